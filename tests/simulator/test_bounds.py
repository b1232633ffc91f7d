"""The simulator stays bounded under hostile or careless clients."""

from __future__ import annotations

import io

import aiohttp
import pytest

from weixin_gateway.simulator import Simulator, qr


async def test_oversized_json_body_is_refused(sim: Simulator, http: aiohttp.ClientSession) -> None:
    bot = sim.create_bot()
    body = b'{"get_updates_buf":"' + b"x" * (2 << 20) + b'"}'
    async with http.post(
        sim.base_url + "/ilink/bot/getupdates",
        data=io.BytesIO(body),
        headers={
            "Authorization": f"Bearer {bot.bot_token}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        },
    ) as resp:
        assert resp.status == 413
        assert "over" in (await resp.json())["errmsg"]


async def test_qr_sessions_are_capped(
    sim: Simulator, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qr, "MAX_QR_SESSIONS", 3)
    codes = []
    for _ in range(5):
        async with http.post(
            sim.base_url + "/ilink/bot/get_bot_qrcode?bot_type=3", json={"local_token_list": []}
        ) as resp:
            codes.append((await resp.json())["qrcode"])
    assert [s.qrcode for s in sim.qr_sessions()] == codes[-3:]
    async with http.get(
        sim.base_url + "/ilink/bot/get_qrcode_status", params={"qrcode": codes[0]}
    ) as resp:
        assert (await resp.json())["status"] == "expired"
