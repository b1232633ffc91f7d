"""``weixin-gateway mp``: the Official Account gateway, a drop-in replacement for go-wx-gateway.

::

    weixin-gateway mp --config wx-gateway-conf.json
    CONF_FILE=wx-gateway-conf.json weixin-gateway mp

The configuration file is go-wx-gateway's, unchanged (:mod:`weixin_gateway.mp.config`). Unknown
keys are logged as warnings; a broken file is refused before anything starts, with every
problem named by its key path, and exit status 2 (no traceback). The start-up log prints the
configuration with ``token``, ``app-secret`` and ``aes-key`` replaced by ``***`` (go-wx-gateway
printed them, defect D5).
"""

from __future__ import annotations

import json
import os
import sys
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import click

from weixin_gateway.api.mp_app import create_mp_app
from weixin_gateway.api.server import configure_logging, run_event_loop, serve
from weixin_gateway.gateway.mp_gateway import MpGatewayConfig
from weixin_gateway.mp.config import MpConfig, load_config
from weixin_gateway.mp.errors import MpConfigError
from weixin_gateway.mp.gojson import JsonValue

from ._process import tune_garbage_collector

__all__ = ["mp", "redacted_config"]


EXIT_BAD_CONFIG = 2
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def redacted_config(config: MpConfig) -> dict[str, JsonValue]:
    """:meth:`MpConfig.redacted`, with credentials inside upstream URLs hidden as well."""
    data = config.redacted()
    services = data.get("services")
    if isinstance(services, list):
        for service in services:
            if isinstance(service, dict):
                for key in ("msg-proxy-pass", "redirect-url"):
                    value = service.get(key)
                    if isinstance(value, str) and value:
                        service[key] = _without_userinfo(value)
    return data


def _describe(config: MpConfig) -> list[str]:
    lines = []
    for s in config.services:
        wx = s.wx_params
        mode = "shop" if s.is_channels_ec else ("aes" if wx.encrypted else "plaintext")
        target = _without_userinfo(s.msg_proxy_pass) if s.msg_proxy_pass else "built-in echo"
        line = f"service {s.name!r}: {s.listen_endpoints.service_path} ({mode}) -> {target}"
        if s.redirect_url:
            line += f"; OAuth {s.listen_endpoints.redirect_path} -> "
            line += _without_userinfo(s.redirect_url)
        lines.append(line)
    return lines


def _fail(message: str, code: int = EXIT_BAD_CONFIG) -> NoReturn:
    click.echo(f"weixin-gateway mp: {message}", err=True)
    sys.exit(code)


@click.command("mp")
@click.option(
    "--config",
    "config_file",
    envvar="CONF_FILE",
    metavar="FILE",
    help="go-wx-gateway's JSON configuration (default: $CONF_FILE).",
)
@click.option("--host", default=None, help="Address to bind (default: listen-host).")
@click.option("--port", type=int, default=None, help="Port to bind (default: listen-port).")
@click.option(
    "--log-level",
    type=click.Choice(_LOG_LEVELS),
    default="info",
    show_default=True,
    help="Logging threshold.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every HTTP request (credentials in query strings are masked).",
)
@click.option(
    "--upstream-timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=30.0,
    show_default=True,
    help="Seconds a msg-proxy-pass or redirect-url answer may take.",
)
def mp(
    config_file: str | None,
    host: str | None,
    port: int | None,
    log_level: str,
    access_log: bool,
    upstream_timeout: float,
) -> None:
    """Run the Official Account gateway (go-wx-gateway's configuration and contract)."""
    configure_logging(log_level)
    if not config_file:
        _fail("no configuration: pass --config FILE or set CONF_FILE")
    try:
        config, _warnings = load_config(config_file)
    except MpConfigError as exc:
        _fail(f"the configuration is broken: {exc}")
    if config.api_ca_file and not os.access(config.api_ca_file, os.R_OK):
        _fail(f"the configuration is broken: api-ca-file: cannot read {config.api_ca_file!r}")
    if port is not None and not 0 <= port <= 65535:
        _fail("--port must be between 0 and 65535")
    bind_host = config.listen_host if host is None else host
    bind_port = config.listen_port if port is None else port
    click.echo("configuration: " + json.dumps(redacted_config(config), ensure_ascii=False))
    for line in _describe(config):
        click.echo(line)
    settings = MpGatewayConfig(
        upstream_timeout_s=upstream_timeout, oauth_timeout_s=upstream_timeout
    )
    app = create_mp_app(config, settings=settings)
    try:
        tune_garbage_collector()  # a full collection over start-up objects stalled pushes
        run_event_loop(
            serve(app, host=bind_host, port=bind_port, log_level=log_level, access_log=access_log)
        )
    except OSError as exc:
        _fail(f"cannot listen on {bind_host or '*'}:{bind_port}: {exc.strerror or exc}", 1)
    except RuntimeError as exc:
        _fail(str(exc), 1)
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C
        pass


if __name__ == "__main__":  # python -m weixin_gateway.cli.mp
    mp(prog_name="weixin-gateway mp")
