"""The Official Account gateway over loopback: the simulator as WeChat, a small upstream sink.

* ``wx`` — :class:`OfficialAccountSimulator` (WeChat: API server and push client).
* ``sink`` — an aiohttp server standing in for ``msg-proxy-pass`` and ``redirect-url``; it
  records every request and answers what the test tells it to (optionally after a delay).
* ``start_gateway`` — builds go-wx-gateway's JSON configuration for simulator apps, serves
  :func:`create_mp_app` with :class:`AppServer` and points the apps' push URLs at it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from weixin_gateway.api.mp_app import create_mp_app
from weixin_gateway.api.server import AppServer
from weixin_gateway.gateway.mp_gateway import MpGateway, MpGatewayConfig
from weixin_gateway.gateway.mp_service import OfficialAccountService
from weixin_gateway.mp.config import parse_config
from weixin_gateway.simulator.mp import AppConfig, MpSimulatorConfig, OfficialAccountSimulator


@dataclass
class SinkRequest:
    method: str
    path_qs: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Answer = dict[str, Any] | bytes | tuple[int, dict[str, Any] | bytes]
Handler = Callable[[SinkRequest], Awaitable[web.StreamResponse] | web.StreamResponse]


@dataclass
class Sink:
    """The developer's upstream: records requests; answers per path (or ``default``)."""

    requests: list[SinkRequest] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    handlers: dict[str, Handler] = field(default_factory=dict)
    default: Answer = field(default_factory=lambda: {"type": "success", "msg": "success"})
    delay_s: float = 0.0
    active: int = 0
    max_active: int = 0
    base_url: str = ""

    def at(self, path: str) -> list[SinkRequest]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        record = SinkRequest(
            request.method,
            request.path_qs,
            request.path,
            request.headers,
            await request.read(),
            time.perf_counter(),
        )
        self.requests.append(record)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            handler = self.handlers.get(request.path)
            if handler is not None:
                result = handler(record)
                return await result if asyncio.iscoroutine(result) else result  # type: ignore[return-value]
            answer = self.answers.get(request.path, self.default)
            status = 200
            if isinstance(answer, tuple):
                status, answer = answer
            if isinstance(answer, bytes):
                return web.Response(body=answer, status=status, content_type="text/plain")
            return web.json_response(answer, status=status)
        finally:
            self.active -= 1


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polls state another task changes
            await asyncio.sleep(0.02)


@pytest.fixture
async def wx() -> AsyncIterator[OfficialAccountSimulator]:
    async with OfficialAccountSimulator(MpSimulatorConfig(seed=7)) as sim:
        yield sim


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    state = Sink()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


def service_conf(
    app: AppConfig,
    *,
    name: str = "oa",
    path: str = "/wx",
    proxy: str | None = None,
    aes: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """One ``services[]`` entry of go-wx-gateway's file for a simulator app."""
    return {
        "name": name,
        "workerNum": extra.pop("workerNum", 5),
        "timeout": extra.pop("timeout", 0),
        "wx-params": {
            "token": app.token,
            "app-id": app.appid,
            "app-secret": app.secret,
            "aes-key": app.encoding_aes_key if aes else "",
        },
        "listen-endpoints": {
            "service-path": path,
            **({"redirect-path": extra.pop("redirect_path")} if "redirect_path" in extra else {}),
        },
        "msg-proxy-pass": proxy if proxy is not None else "",
        **extra,
    }


@dataclass
class Gateway:
    server: AppServer
    gateway: MpGateway

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def service(self, name: str = "oa") -> OfficialAccountService:
        service = self.gateway.service(name)
        assert service is not None
        return service


StartGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(
    wx: OfficialAccountSimulator,
) -> AsyncIterator[StartGateway]:
    servers: list[AppServer] = []

    async def start(
        services: list[dict[str, Any]],
        settings: MpGatewayConfig | None = None,
        **top: Any,
    ) -> Gateway:
        conf = {"listen-port": 0, "services": services, "api-base-url": wx.api_base_url, **top}
        config, warnings = parse_config(json.dumps(conf), source="test")
        assert warnings == []
        app = create_mp_app(config, settings=settings or MpGatewayConfig(drain_timeout_s=2))
        server = AppServer(app)
        await server.start()
        servers.append(server)
        for service in services:
            appid = service["wx-params"]["app-id"]
            path = service["listen-endpoints"]["service-path"]
            wx.update_app(appid, push_url=server.base_url + path)
        return Gateway(server, app.state.gateway)

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()
