"""``weixin-gateway demo``: a WeChat user, the gateway and an echo agent in one process.

Three services share one event loop, all on 127.0.0.1:

* the **simulator** (a local WeChat: iLink API, CDN, control API under ``/_sim/``) with one
  logged-in bot and one user;
* a small **echo agent** (aiohttp) that receives the gateway's callback events and answers each
  through the gateway's ``POST /send`` with ``echo: <text>`` (media: a short description);
* the **gateway** (REST API, SQLite in a temporary directory unless ``--data-dir``), callback
  mode, upstream = the echo agent, iLink/CDN = the simulator, the simulated bot registered as
  account ``demo``, polling on.

It prints how to talk to the agent as the simulated user (``curl`` lines for the simulator's
control API) and shows each round trip live. ``--once TEXT`` sends one message itself, prints the
reply and exits (0, or 1 when no reply comes within 10 s). Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import shlex
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import click
from aiohttp import web
from rich.console import Console
from rich.text import Text

from weixin_gateway.api.gateway_app import create_gateway_app
from weixin_gateway.api.server import AppServer, configure_logging
from weixin_gateway.delivery.events import ATTACHMENTS_LABEL
from weixin_gateway.gateway.service import IlinkGateway
from weixin_gateway.gateway.settings import SettingsError, load_settings
from weixin_gateway.simulator import SimBot, Simulator, SimulatorConfig, SimUser

__all__ = ["EchoAgent", "demo", "describe_message", "echo_text"]

HOST = "127.0.0.1"
ACCOUNT_ID = "demo"
DEFAULT_GATEWAY_PORT = 8787
DEFAULT_SIM_PORT = 9100
DEFAULT_AGENT_PORT = 8000
EVENTS_PATH = "/callback/weixin-gateway"
ONCE_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 30.0
#: Stored simulator IDs further than this from the first one are not the simulator's.


class DemoError(Exception):
    """A problem to show as one line before exiting with status 1."""


# --- the echo agent ------------------------------------------------------------------------------


# the gateway saves inbound files as weixin-inbound-<32 hex>-<original name>
_SAVED_PREFIX = re.compile(r"^weixin-inbound-[0-9a-f]{32}-")


def _size(size: object) -> str:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _describe_attachment(attachment: Mapping[str, Any]) -> str:
    kind = str(attachment.get("kind") or "attachment")
    error = str(attachment.get("error") or "")
    if error:
        return f"{kind} (not received: {error})"
    words = [kind]
    if kind == "file" and attachment.get("filename"):
        words.append(_SAVED_PREFIX.sub("", str(attachment["filename"])))
    size = _size(attachment.get("size"))
    if size:
        words.append(size)
    return " ".join(words)


def describe_message(event: Mapping[str, Any]) -> str:
    """An event's text, its media (if any) summed up in brackets instead of listed with paths."""
    text = str(event.get("text") or "")
    text = text.split(ATTACHMENTS_LABEL, 1)[0].strip()  # the attachment list is described below
    raw_attachments = event.get("attachments")
    attachments = raw_attachments if isinstance(raw_attachments, list) else []
    described = [_describe_attachment(a) for a in attachments if isinstance(a, Mapping)]
    parts = [text] if text else []
    if described:
        parts.append("[" + ", ".join(described) + "]")
    return " ".join(parts) if parts else "(an empty message)"


def echo_text(event: Mapping[str, Any]) -> str:
    """The echo agent's answer to one event: ``echo: <text>``, media described in brackets."""
    return "echo: " + describe_message(event)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the echo agent did with one event."""

    context_token: str
    text: str
    ok: bool
    error: str
    #: From the event's arrival at the agent to the gateway's answer to ``POST /send``.
    agent_ms: float
    #: From the simulator's injection (the message's ``create_time_ms``) to the same moment.
    injection_ms: float | None


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


class EchoAgent:
    """An upstream agent on 127.0.0.1: takes the gateway's events, answers via ``POST /send``.

    ``port=None`` tries :data:`DEFAULT_AGENT_PORT` and falls back to any free port (nobody but
    the gateway needs to reach it); an explicit port must be free.
    """

    def __init__(self, console: Console, *, port: int | None) -> None:
        self.console = console
        self.gateway_url = ""
        self.replies: dict[str, Reply] = {}
        self._port = port
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._replying = True
        self.base_url = ""

    @property
    def events_url(self) -> str:
        return self.base_url + EVENTS_PATH

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._on_event)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            if self._port is None:
                try:
                    await web.TCPSite(runner, HOST, DEFAULT_AGENT_PORT).start()
                except OSError:
                    await web.TCPSite(runner, HOST, 0).start()
            else:
                await web.TCPSite(runner, HOST, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.base_url = f"http://{HOST}:{runner.addresses[0][1]}"
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S))

    async def stop_replying(self) -> None:
        """Drop the replies in progress (before the gateway closes)."""
        self._replying = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.stop_replying()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _on_event(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        try:
            event = json.loads(await request.read())
        except ValueError:
            return web.json_response({"ok": False, "error": "the body is not JSON"}, status=400)
        if not isinstance(event, dict) or event.get("type") != "message":
            return web.json_response({"ok": True, "ignored": True})
        self.console.print(Text.assemble(("user → agent: ", "bold cyan"), describe_message(event)))
        if self._replying:
            task = asyncio.create_task(self._reply(event, arrived), name="echo-reply")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # answer the callback at once; the reply goes out through POST /send
        return web.json_response({"ok": True})

    async def _reply(self, event: dict[str, Any], arrived: float) -> None:
        text = echo_text(event)
        context_token = str(event.get("context_token") or "")
        body = {
            "account_id": event.get("account_id"),
            "to_user_id": event.get("user_id"),
            "context_token": context_token or None,
            "items": [{"type": "text", "text": text}],
        }
        error = ""
        try:
            assert self._http is not None
            async with self._http.post(self.gateway_url + "/send", json=body) as response:
                answer = await response.text()
                if response.status != 200:
                    error = f"HTTP {response.status}: {_error_of(answer)}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        done_wall = time.time()
        agent_ms = (time.monotonic() - arrived) * 1000
        raw = event.get("raw")
        created = raw.get("create_time_ms") if isinstance(raw, dict) else None
        injection_ms = (
            done_wall * 1000 - created
            if isinstance(created, int) and not isinstance(created, bool) and created > 0
            else None
        )
        reply = Reply(context_token, text, not error, error, agent_ms, injection_ms)
        self.replies[context_token] = reply
        self._show(reply)

    def _show(self, reply: Reply) -> None:
        timing = f"{_ms(reply.agent_ms)} at the agent"
        if reply.injection_ms is not None:
            timing += f", {_ms(reply.injection_ms)} since the user sent it"
        if reply.ok:
            self.console.print(
                Text.assemble(
                    ("agent → user: ", "bold green"), reply.text, (f"  ({timing})", "dim")
                )
            )
        else:
            self.console.print(
                Text.assemble(
                    ("agent → user: ", "bold red"),
                    f"not sent ({reply.error})",
                    (f"  ({timing})", "dim"),
                )
            )


def _error_of(answer: str) -> str:
    try:
        decoded = json.loads(answer)
    except ValueError:
        return answer[:200]
    if isinstance(decoded, dict) and decoded.get("error"):
        return str(decoded["error"])
    return answer[:200]


# --- wiring --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoOptions:
    data_dir: Path | None
    port: int
    sim_port: int
    agent_port: int | None
    once: str | None


async def _listen(what: str, option: str, port: int, start: Callable[[], Awaitable[None]]) -> None:
    """Run ``start``; a port that cannot be bound becomes a :class:`DemoError`."""
    try:
        await start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise DemoError(
                f"port {port} on {HOST} is already in use (the {what}); "
                f"pick another with {option} N, or {option} 0 for any free port"
            ) from None
        reason = exc.strerror or str(exc)
        raise DemoError(f"cannot listen on {HOST}:{port} for the {what}: {reason}") from None


async def _setup_call(http: aiohttp.ClientSession, url: str, body: object) -> None:
    try:
        async with http.post(url, json=body) as response:
            answer = await response.text()
            status = response.status
    except aiohttp.ClientError as exc:
        raise DemoError(f"cannot reach the gateway at {url}: {exc}") from None
    if status != 200:
        raise DemoError(f"the gateway refused {url}: HTTP {status}: {_error_of(answer)}")


def _curl_lines(sim_url: str, bot_id: str, user_id: str) -> tuple[str, str]:
    message = json.dumps({"bot_id": bot_id, "from_user_id": user_id, "text": "hello agent"})
    return (
        f"curl -s -X POST {sim_url}/_sim/messages -H 'Content-Type: application/json' "
        f"-d {shlex.quote(message)}",
        f"curl -s {sim_url}/_sim/bots/{bot_id}/sent",
    )


def _banner(
    console: Console,
    *,
    sim: Simulator,
    bot: SimBot,
    user: SimUser,
    agent: EchoAgent,
    gateway_url: str,
    store: str,
    once: bool,
) -> None:
    def row(label: str, value: str, note: str = "") -> None:
        console.print(
            Text.assemble((f"{label:<12}", "bold"), value, (f"  {note}" if note else "", "dim"))
        )

    console.print(
        Text("weixin-gateway demo: a simulated WeChat, the gateway and an echo agent", "bold")
    )
    row("simulator", sim.base_url, "(local WeChat: iLink API, CDN /c2c, control API /_sim/)")
    row("  bot_id", bot.bot_id, f'(registered in the gateway as account "{ACCOUNT_ID}")')
    row("  user_id", user.user_id, "(the WeChat user you play)")
    row("echo agent", agent.events_url, "(receives the gateway's events, replies via POST /send)")
    row("gateway", gateway_url, f"(API docs: {gateway_url}/docs, callback mode)")
    row("  store", store)
    if once:
        return
    send, read = _curl_lines(sim.base_url, bot.bot_id, user.user_id)
    console.print(Text("Talk to the agent as the WeChat user:", "bold"))
    console.print(Text("  " + send))
    console.print(Text("Read the bot's replies (what the user received):", "bold"))
    console.print(Text("  " + read))
    console.print(Text("Waiting for messages. Ctrl-C to stop.", "dim"))


async def _wait_for_reply(
    agent: EchoAgent, sim: Simulator, bot_id: str, context_token: str, timeout: float
) -> str | None:
    """The text the user received for ``context_token``, or None after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if context_token in agent.replies:
            for sent in sim.sent(bot_id):
                if sent.context_token == context_token:
                    return sent.text
            return None  # the agent answered, but the send failed (already shown)
        await asyncio.sleep(0.02)
    return None


async def _run(opts: DemoOptions, console: Console, errors: Console) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def catch_signals() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    catch_signals()
    try:
        async with AsyncExitStack() as stack:
            if opts.data_dir is not None:
                data_dir = opts.data_dir.expanduser().resolve()
                try:
                    data_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DemoError(f"cannot use {data_dir} as the data directory: {exc}") from None
                store = f"SQLite in {data_dir}"
            else:
                data_dir = Path(tempfile.mkdtemp(prefix="weixin-gateway-demo-"))
                stack.callback(shutil.rmtree, data_dir, True)
                store = (
                    f"SQLite in {data_dir} (temporary, removed at exit; keep it with --data-dir)"
                )

            sim = Simulator(SimulatorConfig(), host=HOST, port=opts.sim_port)
            await _listen("simulator", "--sim-port", opts.sim_port, sim.start)
            stack.push_async_callback(sim.close)
            user = sim.create_user("demo user")
            bot = sim.create_bot(user.user_id)

            agent = EchoAgent(console, port=opts.agent_port)
            agent_port = DEFAULT_AGENT_PORT if opts.agent_port is None else opts.agent_port
            await _listen("echo agent", "--agent-port", agent_port, agent.start)
            stack.push_async_callback(agent.close)

            try:
                settings = load_settings(
                    {},
                    host=HOST,
                    port=opts.port or None,
                    data_dir=data_dir,
                    delivery_mode="callback",
                    upstream_base_url=agent.base_url,
                    upstream_events_path=EVENTS_PATH,
                    ilink_base_url=sim.base_url,
                    cdn_base_url=sim.cdn_base_url,
                    auto_start=False,  # polling starts once the demo account is registered
                    retry_base_ms=200,
                    retry_max_ms=5000,
                    log_level="warning",
                )
            except SettingsError as exc:
                raise DemoError(str(exc)) from None
            gateway = IlinkGateway(settings)
            app = create_gateway_app(settings, gateway=gateway)
            server = AppServer(app, host=HOST, port=opts.port)
            try:
                await _listen("gateway", "--port", opts.port, server.start)
            except RuntimeError as exc:
                if stop.is_set():  # a signal reached uvicorn while it was starting
                    console.print(Text("stopped before the demo was ready", "dim"))
                    return 0
                raise DemoError(f"the gateway did not start: {exc}") from None
            # uvicorn took SIGINT/SIGTERM over to stop the gateway on its own; take them back so
            # that one Ctrl-C stops everything here, in order (it restores ours when it ends)
            catch_signals()
            stack.push_async_callback(server.stop)
            stack.push_async_callback(agent.stop_replying)  # before the gateway stops
            agent.gateway_url = server.base_url

            if stop.is_set():
                console.print(Text("stopped before the demo was ready", "dim"))
                return 0
            async with aiohttp.ClientSession() as http:
                await _setup_call(
                    http,
                    server.base_url + "/accounts/register",
                    {
                        "account_id": ACCOUNT_ID,
                        "api_base_url": sim.base_url,
                        "cdn_base_url": sim.cdn_base_url,
                        "bot_token": bot.bot_token,
                        "wechat_uin": user.user_id,
                        "bot_id": bot.bot_id,
                    },
                )
                await _setup_call(http, server.base_url + "/poll/start", {})

            _banner(
                console,
                sim=sim,
                bot=bot,
                user=user,
                agent=agent,
                gateway_url=server.base_url,
                store=store,
                once=opts.once is not None,
            )
            if opts.once is not None:
                message = sim.inject_message(bot.bot_id, from_user_id=user.user_id, text=opts.once)
                waiting = asyncio.create_task(
                    _wait_for_reply(agent, sim, bot.bot_id, message.context_token, ONCE_TIMEOUT_S)
                )
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not waiting.done():
                    waiting.cancel()
                    errors.print("interrupted before the reply came")
                    return 1
                received = waiting.result()
                if received is None:
                    errors.print(f"error: no reply within {ONCE_TIMEOUT_S:.0f} s")
                    return 1
                console.print(Text.assemble(("the user received: ", "bold"), received))
                return 0
            await stop.wait()
            console.print(Text("stopping…", "dim"))
        console.print(Text("demo stopped", "dim"))
        return 0
    except DemoError as exc:
        errors.print(Text(f"error: {exc}"))
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the gateway's SQLite store here (default: a temporary directory, removed at exit).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_GATEWAY_PORT,
    show_default=True,
    help="Gateway API port (0: any free port).",
)
@click.option(
    "--sim-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_SIM_PORT,
    show_default=True,
    help="Simulator port (0: any free port).",
)
@click.option(
    "--agent-port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"Echo agent port (default {DEFAULT_AGENT_PORT}, or any free port if it is taken; "
    "0: any free port).",
)
@click.option(
    "--once",
    metavar="TEXT",
    default=None,
    help="Send TEXT as the user, print the reply and exit (1 if none within 10 s).",
)
def demo(
    data_dir: Path | None,
    port: int,
    sim_port: int,
    agent_port: int | None,
    once: str | None,
) -> None:
    """Try it: a simulated WeChat user, the gateway and an echo agent in one process."""
    configure_logging("warning")
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    errors = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
    options = DemoOptions(data_dir, port, sim_port, agent_port, once)
    try:
        code = asyncio.run(_run(options, console, errors))
    except KeyboardInterrupt:  # Ctrl-C before the demo's own handlers were in place
        code = 130
    if code:
        raise SystemExit(code)
