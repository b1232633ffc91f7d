"""``weixin-gateway serve`` (and a bare ``weixin-gateway``): run the iLink gateway service.

Settings come from the environment (seed 000's variables and ours, see ``serve --help``); the
options below override them for one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from weixin_gateway.api.gateway_app import create_gateway_app
from weixin_gateway.api.server import configure_logging, run_event_loop, serve
from weixin_gateway.gateway.settings import SettingsError, load_settings, settings_reference
from weixin_gateway.store import redact_url

from ._process import raise_open_files_limit, tune_garbage_collector

__all__ = ["serve_command"]


def _settings_epilog() -> str:
    lines = ["\b", "Environment variables (defaults in brackets):"]
    for doc in settings_reference():
        legacy = f" (legacy: {', '.join(doc.legacy)})" if doc.legacy else ""
        default = doc.default if doc.default != "" else "unset"
        lines.append(f"  {doc.env} [{default}]{legacy}")
        lines.append(f"      {doc.description}")
    return "\n".join(lines)


@click.command(
    "serve",
    epilog=_settings_epilog(),
    context_settings={"max_content_width": 120},
)
@click.option("--host", default=None, help="Bind address [WEIXIN_GATEWAY_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [PORT, 8787].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory [WEIXIN_GATEWAY_DATA_DIR, .data].",
)
@click.option("--database-url", default=None, help="[WEIXIN_GATEWAY_DATABASE_URL]")
@click.option(
    "--delivery-mode",
    type=click.Choice(["callback", "inbox"]),
    default=None,
    help="[WEIXIN_GATEWAY_DELIVERY_MODE, callback]",
)
@click.option("--log-level", default=None, help="[WEIXIN_GATEWAY_LOG_LEVEL, info]")
def serve_command(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    database_url: str | None,
    delivery_mode: str | None,
    log_level: str | None,
) -> None:
    """Run the gateway: poll every account, deliver to the upstream, serve the REST API."""
    try:
        settings = load_settings(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database_url,
            delivery_mode=delivery_mode,
            log_level=log_level,
        )
        configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    except (SettingsError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        f"weixin-gateway on http://{settings.host}:{settings.port} "
        f"({settings.delivery_mode} mode, store {redact_url(settings.database_url_or_default)})",
        err=True,
    )
    raise_open_files_limit()  # a socket per account's long poll
    app = create_gateway_app(settings)
    tune_garbage_collector()  # thousands of parked polls: see cli/_process.py
    try:
        run_event_loop(
            serve(app, host=settings.host, port=settings.port, log_level=settings.log_level)
        )
    except RuntimeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", err=True)
        sys.exit(1)
