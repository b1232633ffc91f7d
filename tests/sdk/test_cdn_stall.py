"""A CDN transfer that stops sending fails on the idle-read timeout, long before its total."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from weixin_gateway.errors import RequestTimeoutError
from weixin_gateway.ilink import cdn


async def test_stalled_download_fails_on_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000"})
        await resp.prepare(request)
        await resp.write(b"x" * 10)
        await asyncio.sleep(30)
        return resp

    app = web.Application()
    app.router.add_get("/download", stall)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/download"
    monkeypatch.setattr(cdn, "IDLE_READ_TIMEOUT", 0.3)
    received: list[bytes] = []

    async def sink(piece: bytes) -> None:
        received.append(piece)

    started = time.monotonic()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(RequestTimeoutError):
                await cdn.download(session, url, sink, key=None, max_bytes=10_000, timeout=20)
    finally:
        await runner.cleanup()
    assert time.monotonic() - started < 5
    assert b"".join(received) == b"x" * 10
