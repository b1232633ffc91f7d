"""Lifecycle, mounting into another aiohttp app, deterministic mode, secret-leak checks."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator.mp import (
    AppConfig,
    MpSimulatorConfig,
    OfficialAccountSimulator,
    SimulatorError,
)

from .conftest import WeChatApi


async def test_mounted_into_another_app(http: aiohttp.ClientSession) -> None:
    """How the standalone ``weixin-gateway simulator`` server can serve both sides."""

    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"pong": True})

    host = web.Application()
    host.router.add_get("/ilink/ping", ping)
    wx = OfficialAccountSimulator(clock=FakeClock())
    wx.mount(host.router)
    runner = web.AppRunner(host)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        await wx.start(base_url=base_url)
        assert wx.api_base_url == base_url
        app = wx.create_app()
        api = WeChatApi(http, base_url)
        assert (await api.get("/ilink/ping")).json() == {"pong": True}
        token = await api.token(app)
        assert (await api.call("/cgi-bin/ticket/getticket", token, type="jsapi"))["errcode"] == 0
        assert (await api.get("/_sim/mp/apps")).json()["apps"][0]["appid"] == app.appid
    finally:
        await wx.close()
        await runner.cleanup()


async def test_lifecycle_misuse() -> None:
    wx = OfficialAccountSimulator()
    with pytest.raises(RuntimeError):
        _ = wx.base_url
    with pytest.raises(RuntimeError):
        await wx.start(base_url="http://127.0.0.1:1")
    async with wx:
        with pytest.raises(RuntimeError):
            await wx.start()
        with pytest.raises(RuntimeError):
            wx.mount(web.Application().router)
    await wx.close()  # idempotent


async def test_seed_makes_runs_repeatable() -> None:
    runs = []
    for _ in range(2):
        async with OfficialAccountSimulator(MpSimulatorConfig(seed=42), clock=FakeClock()) as wx:
            app = wx.create_app()
            user = wx.add_user(app.appid)
            token = wx.issue_token(app.appid)
            runs.append((app.appid, app.secret, user.openid, token.token))
    assert runs[0] == runs[1]


def test_config_validation() -> None:
    with pytest.raises(SimulatorError) as info:
        MpSimulatorConfig(push_attempts=0)
    assert info.value.field == "push_attempts"
    with pytest.raises(SimulatorError) as info:
        MpSimulatorConfig().replace(shop_retry_schedule_s=[1, -1])
    assert info.value.field == "shop_retry_schedule_s"
    with pytest.raises(SimulatorError) as info:
        AppConfig(
            appid="wx0123456789abcdef",
            secret="s",
            token="tok",
            encoding_aes_key="A" * 43,
            gh_id="gh_123",
        )
    assert info.value.field == "gh_id"
    shown = repr(
        AppConfig(
            appid="wx0123456789abcdef",
            secret="s3cr3t",
            token="t0ken",
            encoding_aes_key="K" * 43,
            gh_id="gh_0123456789ab",
        )
    )
    assert "s3cr3t" not in shown
    assert "t0ken" not in shown
    assert "K" * 43 not in shown


async def test_leak_detection(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    app = wx.create_app()
    token = await api.token(app)
    ticket = wx.issue_ticket(app.appid)
    log = f"calling with access_token={token} and ticket {ticket}; secret={app.secret}"
    leaks = wx.leaks(log)
    assert leaks == (
        f"{app.appid} secret",
        f"{app.appid} jsapi ticket",
        f"{app.appid} access_token (classic)",
    )
    assert all(token not in leak and app.secret not in leak for leak in leaks)
    assert wx.leaks("nothing to see") == ()
    over_http = await api.post("/_sim/mp/leaks", {"text": f"key={app.encoding_aes_key}"})
    assert over_http.json() == {"leaks": [f"{app.appid} EncodingAESKey"]}
