"""One process serving many accounts: a client per account must stay small, and what is built
once per config (``base_info``, app headers) must still follow each client's own config."""

from __future__ import annotations

import gc
import json
import tracemalloc

import aiohttp

from weixin_gateway.ilink import ILinkApi, ILinkConfig
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.simulator import Simulator

#: Each client once held its own ``random.Random`` (2.5 KB of state) for typing-ticket jitter:
#: 25 MB for 10,000 accounts. A client sharing the sessions now takes well under 2 KB.
MAX_BYTES_PER_CLIENT = 2_000


async def test_a_client_per_account_stays_small() -> None:
    async with aiohttp.ClientSession() as http:
        WeixinClient("http://127.0.0.1:9", "warm:up", session=http, poll_session=http)
        clients: list[WeixinClient] = []
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            clients = [
                WeixinClient("http://127.0.0.1:9", f"bot{i}:t", session=http, poll_session=http)
                for i in range(300)
            ]
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        used = sum(d.size_diff for d in after.compare_to(before, "filename"))
        assert len(clients) == 300
        assert used / 300 < MAX_BYTES_PER_CLIENT, used / 300


async def test_each_config_sends_its_own_base_info_and_headers(sim: Simulator) -> None:
    bot = sim.create_bot()
    tagged = ILinkConfig(bot_agent="Agent/1.0", route_tag="7", client_version="2.5.1")
    for config in (ILinkConfig(), tagged, ILinkConfig()):
        async with ILinkApi(sim.base_url, bot.bot_token, config=config) as api:
            await api.getupdates("C1")
    polls = [r for r in sim.requests if r.route == "getupdates"]
    bodies = [json.loads(r.body) for r in polls]
    assert [b["base_info"]["bot_agent"] for b in bodies] == ["OpenClaw", "Agent/1.0", "OpenClaw"]
    assert all(b["get_updates_buf"] == "C1" for b in bodies)
    assert [r.header("SKRouteTag") for r in polls] == [None, "7", None]
    versions = [r.header("iLink-App-ClientVersion") for r in polls]
    assert versions == ["132105", str((2 << 16) | (5 << 8) | 1), "132105"]
    assert len({r.header("X-WECHAT-UIN") for r in polls}) == 3  # still fresh per request
