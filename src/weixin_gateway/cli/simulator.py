"""``weixin-gateway simulator``: run the local WeChat simulators until Ctrl-C or SIGTERM.

The iLink side (bots, CDN) and the Official Account side (WeChat's APIs, pushes) share one port.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal

import click

from weixin_gateway.simulator import Simulator, SimulatorConfig
from weixin_gateway.simulator.mp import OfficialAccountSimulator

from ._process import raise_open_files_limit, tune_garbage_collector

__all__ = ["simulator"]


def _curl_lines(base_url: str, bot_id: str, user_id: str) -> list[str]:
    message = json.dumps({"bot_id": bot_id, "from_user_id": user_id, "text": "hello bot"})
    return [
        f"  curl -s -X POST {base_url}/_sim/messages -H 'Content-Type: application/json' "
        f"-d {shlex.quote(message)}",
        f"  curl -s {base_url}/_sim/bots/{bot_id}/sent",
    ]


def _echo_official_account(wx: OfficialAccountSimulator) -> None:
    app = wx.create_app()
    click.echo(f"Official Account API base URL: {wx.api_base_url}  (control: {wx.control_url})")
    click.echo(
        f"  test account: app-id {app.appid}  app-secret {app.secret}  token {app.token}  "
        f"aes-key {app.encoding_aes_key}"
    )
    click.echo(
        "  (fake credentials for a local test account; see docs/simulator-official-account.md)"
    )


async def _run(
    *,
    host: str,
    port: int,
    hold_seconds: float | None,
    with_bot: bool,
    bot_token: str | None,
    official_account: bool,
) -> None:
    config = (
        SimulatorConfig() if hold_seconds is None else SimulatorConfig(hold_seconds=hold_seconds)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    wx = OfficialAccountSimulator() if official_account else None
    mounts = (wx,) if wx is not None else ()
    async with Simulator(config, host=host, port=port, mounts=mounts) as sim:
        click.echo(f"API base URL: {sim.base_url}")
        click.echo(f"CDN base URL: {sim.cdn_base_url}")
        bot_id, user_id = "<bot_id>", "<user_id>"
        if with_bot:
            user = sim.create_user("demo user")
            bot_id_hint = bot_token.split(":", 1)[0] if bot_token and ":" in bot_token else None
            bot = sim.create_bot(user.user_id, bot_id=bot_id_hint, bot_token=bot_token)
            bot_id, user_id = bot.bot_id, user.user_id
            click.echo(f"user_id:      {user_id}")
            click.echo(f"bot_id:       {bot_id}")
            click.echo(f"bot_token:    {bot.bot_token}")
        click.echo("Inject a message, then read what the bot sent:")
        for line in _curl_lines(sim.base_url, bot_id, user_id):
            click.echo(line)
        if wx is not None:
            _echo_official_account(wx)
        click.echo("Control API: docs/simulator.md. Ctrl-C to stop.")
        await stop.wait()
    click.echo("simulator stopped")


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=9100, show_default=True, type=int, help="Port to bind (0: a free one)."
)
@click.option(
    "--hold-seconds",
    type=float,
    default=None,
    help="How long getupdates is held when idle (default 30).",
)
@click.option(
    "--bot/--no-bot",
    "with_bot",
    default=True,
    show_default=True,
    help="Create one logged-in bot and one user at start.",
)
@click.option("--bot-token", default=None, help="Fix the bot's token (for scripts).")
@click.option(
    "--official-account/--no-official-account",
    default=True,
    show_default=True,
    help="Also serve the Official Account side (WeChat's APIs, /_sim/mp/) on the same port.",
)
def simulator(
    host: str,
    port: int,
    hold_seconds: float | None,
    with_bot: bool,
    bot_token: str | None,
    official_account: bool,
) -> None:
    """Run a local WeChat: iLink server + CDN (/_sim/) and the Official Account side (/_sim/mp/)."""
    if bot_token is not None and not with_bot:
        raise click.UsageError("--bot-token needs --bot")
    raise_open_files_limit()  # a socket per held long poll
    tune_garbage_collector()  # thousands of held polls: see cli/_process.py
    asyncio.run(
        _run(
            host=host,
            port=port,
            hold_seconds=hold_seconds,
            with_bot=with_bot,
            bot_token=bot_token,
            official_account=official_account,
        )
    )


if __name__ == "__main__":
    simulator()
