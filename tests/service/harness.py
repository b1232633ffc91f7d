"""A running gateway for tests: the simulator, a recording upstream, the gateway's REST API.

Everything talks over real loopback sockets. ``GatewayHarness`` is an async context manager::

    async with GatewayHarness(tmp_path, database_url=url, mode="callback") as h:
        account_id = await h.register()              # a simulated bot, registered over the API
        h.sim.inject_message(h.bot.bot_id, text="hi")
        [event] = await h.upstream.wait_events(1)
        status, body = await h.call("POST", "/send", body={...})

The upstream can be told to fail (``h.upstream.fail_with = 500``) or to be slow
(``h.upstream.delay_s``); it records every event it accepted, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from weixin_gateway.api.gateway_app import create_gateway_app
from weixin_gateway.api.server import AppServer
from weixin_gateway.gateway.service import IlinkGateway
from weixin_gateway.gateway.settings import GatewaySettings, load_settings
from weixin_gateway.simulator import SimBot, Simulator, SimulatorConfig

__all__ = ["GatewayHarness", "RecordingUpstream", "eventually"]

EVENTS_PATH = "/callback/weixin-gateway"


async def eventually(
    predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Await until ``predicate()`` (sync or async) is truthy; return its value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


class RecordingUpstream:
    """An upstream agent's event endpoint on 127.0.0.1 that records what it accepts."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_with: int | None = None
        #: Fail (HTTP 503) only the events this returns True for (e.g. one user's).
        self.fail_when: Callable[[dict[str, Any]], bool] | None = None
        self.delay_s = 0.0
        #: Answer accepted events with this body (default: a small JSON object).
        self.answer_body: bytes | None = None
        #: Close the connection after each answer (``Connection: close``).
        self.close_connections = False
        self.attempts = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts += 1
        self.requests.append((dict(request.headers), body))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        event = json.loads(body)
        if self.fail_with is not None:
            return web.json_response({"ok": False}, status=self.fail_with)
        if self.fail_when is not None and self.fail_when(event):
            return web.json_response({"ok": False}, status=503)
        self.events.append(event)
        headers = {"Connection": "close"} if self.close_connections else None
        if self.answer_body is not None:
            return web.Response(body=self.answer_body, headers=headers)
        return web.json_response({"ok": True}, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_events(self, n: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        await eventually(lambda: len(self.events) >= n, timeout=timeout)
        return self.events[:n]


class GatewayHarness:
    """Simulator + upstream + gateway (REST API on a free port); see the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str = "",
        mode: str = "callback",
        sim: Simulator | None = None,
        hold_seconds: float = 1.0,
        **settings: Any,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.mode = mode
        self.hold_seconds = hold_seconds
        self.extra = settings
        self._own_sim = sim is None
        self.sim = sim or Simulator(config=SimulatorConfig(hold_seconds=hold_seconds))
        self.upstream = RecordingUpstream()
        self.server: AppServer | None = None
        self.http: aiohttp.ClientSession | None = None
        self.bot: SimBot | None = None
        self.headers: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    @property
    def gateway(self) -> IlinkGateway:
        assert self.server is not None
        gateway: IlinkGateway = self.server.app.state.gateway  # type: ignore[attr-defined]
        return gateway

    def settings(self) -> GatewaySettings:
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "database_url": self.database_url,
            "delivery_mode": self.mode,
            "upstream_base_url": self.upstream.base_url,
            "ilink_base_url": self.sim.base_url,
            "cdn_base_url": self.sim.cdn_base_url,
            "retry_base_ms": 50,
            "retry_max_ms": 200,
        }
        values.update(self.extra)
        return load_settings({}, **values)

    async def __aenter__(self) -> GatewayHarness:
        if self._own_sim:
            await self.sim.__aenter__()
        await self.upstream.start()
        self.http = aiohttp.ClientSession()
        await self.start_gateway()
        return self

    async def start_gateway(self) -> None:
        self.server = AppServer(create_gateway_app(self.settings()))
        await self.server.start()

    async def stop_gateway(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def restart_gateway(self) -> None:
        await self.stop_gateway()
        await self.start_gateway()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_gateway()
        if self.http is not None:
            await self.http.close()
        await self.upstream.close()
        if self._own_sim:
            await self.sim.__aexit__(None, None, None)

    async def call(
        self, method: str, path: str, *, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """One API request with JSON ``body``; ``(status, decoded JSON)`` (text when not JSON)."""
        assert self.http is not None
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["json"] = body
        async with self.http.request(
            method, self.base_url + path, headers=headers, **kwargs
        ) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def register(self, account_id: str = "wx-test", bot: SimBot | None = None) -> str:
        """Create (or use) a simulated bot and register it over the API; return the account id."""
        self.bot = bot or self.sim.create_bot()
        status, body = await self.call(
            "POST",
            "/accounts/register",
            body={
                "account_id": account_id,
                "api_base_url": self.sim.base_url,
                "bot_token": self.bot.bot_token,
                "wechat_uin": self.bot.user_id,
            },
        )
        assert status == 200, body
        return account_id
