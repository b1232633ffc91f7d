"""The Official Account simulator served from the iLink simulator's port (the CLI's setup)."""

from __future__ import annotations

import aiohttp

from weixin_gateway.simulator import Simulator
from weixin_gateway.simulator.mp import OfficialAccountSimulator


async def test_both_sides_on_one_port() -> None:
    wx = OfficialAccountSimulator()
    async with Simulator(mounts=[wx]) as sim, aiohttp.ClientSession() as http:
        assert wx.api_base_url == sim.base_url
        app = wx.create_app()
        token_url = f"{wx.api_base_url}/cgi-bin/stable_token"
        body = {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret}
        async with http.post(token_url, json=body) as resp:
            data = await resp.json(content_type=None)
        assert data["access_token"]
        assert data["expires_in"] > 0
        bot = sim.create_bot()
        async with http.post(
            sim.base_url + "/ilink/bot/getconfig",
            json={"ilink_user_id": "u@im.wechat"},
            headers={"Authorization": f"Bearer {bot.bot_token}"},
        ) as resp:
            assert (await resp.json())["ret"] == 0
