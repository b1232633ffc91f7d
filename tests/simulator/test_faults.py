"""Fault plans: latency, HTTP statuses, dropped connections, CDN failures, duplicate delivery."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time

import aiohttp
import pytest

from weixin_gateway.ilink.crypto import encrypt_ecb, padded_size
from weixin_gateway.simulator import FaultPlan, SimBot, Simulator, SimulatorError

from .conftest import BASE_INFO, ILinkClient, Reply

KEY_HEX = "00112233445566778899aabbccddeeff"
PLAIN = b"hello from the fake CDN: inbound file payload\n"


async def _getconfig(client: ILinkClient, bot: SimBot) -> Reply:
    return await client.post(
        "/ilink/bot/getconfig", {"ilink_user_id": "u@im.wechat"}, token=bot.bot_token
    )


async def test_latency(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    sim.add_fault(FaultPlan("latency", route="getconfig", delay_ms=300))
    started = time.monotonic()
    assert (await _getconfig(client, bot)).json()["ret"] == 0
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await _getconfig(client, bot)
    assert time.monotonic() - started < 0.3  # fired once only
    assert sim.faults() == ()


@pytest.mark.parametrize("status", [500, 502, 524])
async def test_http_status_once(sim: Simulator, client: ILinkClient, status: int) -> None:
    bot = sim.create_bot()
    sim.add_fault(FaultPlan("status", route="getupdates", status=status))
    failed = await client.post(
        "/ilink/bot/getupdates", {"get_updates_buf": ""}, token=bot.bot_token
    )
    assert failed.status == status
    assert failed.json()["ret"] == -1
    assert (await client.getupdates(bot.bot_token))["ret"] == 0


async def test_forever_plan_targets_one_bot_until_cleared(
    sim: Simulator, client: ILinkClient
) -> None:
    victim, bystander = sim.create_bot(), sim.create_bot()
    added = await client.control(
        "/_sim/faults",
        {"kind": "status", "route": "*", "bot_id": victim.bot_id, "status": 503, "count": None},
    )
    assert added.json()["remaining"] is None
    for _ in range(3):
        assert (await _getconfig(client, victim)).status == 503
    assert (await _getconfig(client, bystander)).status == 200
    listed = (await client.get("/_sim/faults")).json()["faults"]
    assert listed[0]["fired"] == 3
    assert (await client.delete("/_sim/faults")).status == 200
    assert (await _getconfig(client, victim)).status == 200


async def test_count_and_removal_by_id(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    fault = sim.add_fault(FaultPlan("status", route="getconfig", status=500, count=2))
    assert [(await _getconfig(client, bot)).status for _ in range(3)] == [500, 500, 200]
    other = sim.add_fault(FaultPlan("status", route="getconfig", status=500, count=None))
    assert fault.id != other.id
    assert (await client.delete(f"/_sim/faults/{other.id}")).json() == {"removed": other.id}
    assert (await client.delete(f"/_sim/faults/{other.id}")).status == 404
    assert (await _getconfig(client, bot)).status == 200


async def test_dropped_connection(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    sim.add_fault(FaultPlan("drop", route="sendmessage"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.sendmessage(bot.bot_token, {"to_user_id": "u@im.wechat", "message_type": 2})
    assert [r.route for r in sim.requests] == ["sendmessage"]


async def test_qr_routes_can_fail_too(sim: Simulator, client: ILinkClient) -> None:
    sim.add_fault(FaultPlan("status", route="get_bot_qrcode", status=500))
    assert (await client.post("/ilink/bot/get_bot_qrcode?bot_type=3", {})).status == 500
    assert (await client.post("/ilink/bot/get_bot_qrcode?bot_type=3", {})).status == 200


async def _upload_url(client: ILinkClient, bot: SimBot) -> str:
    body = {
        "filekey": "fda193e79e6c0c45b7710cf893f271fe",
        "media_type": 3,
        "to_user_id": "u@im.wechat",
        "rawsize": len(PLAIN),
        "rawfilemd5": hashlib.md5(PLAIN, usedforsecurity=False).hexdigest(),
        "filesize": padded_size(len(PLAIN)),
        "no_need_thumb": True,
        "aeskey": KEY_HEX,
        "base_info": BASE_INFO,
    }
    answer = (await client.post("/ilink/bot/getuploadurl", body, token=bot.bot_token)).json()
    return str(answer["upload_full_url"])


async def _upload(client: ILinkClient, url: str) -> Reply:
    cipher = encrypt_ecb(bytes.fromhex(KEY_HEX), PLAIN)
    async with client.http.post(url, data=io.BytesIO(cipher)) as resp:
        return Reply(resp.status, await resp.text(), dict(resp.headers))


async def test_cdn_faults(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    url = await _upload_url(client, bot)
    sim.add_fault(FaultPlan("status", route="cdn_upload", status=500))
    assert (await _upload(client, url)).status == 500
    sim.add_fault(
        FaultPlan("status", route="cdn_upload", status=400, error_message="invalid filekey")
    )
    refused = await _upload(client, url)
    assert refused.status == 400
    assert refused.headers["x-error-message"] == "invalid filekey"
    sim.add_fault(FaultPlan("no_encrypted_param", bot_id=bot.bot_id))
    silent = await _upload(client, url)
    assert silent.status == 200
    assert "x-encrypted-param" not in silent.headers
    ok = await _upload(client, url)  # the client's retry succeeds with the same URL
    assert ok.status == 200
    param = ok.headers["x-encrypted-param"]
    sim.add_fault(FaultPlan("status", route="cdn_download", status=404, error_message="gone"))
    async with client.http.get(
        f"{sim.cdn_base_url}/download", params={"encrypted_query_param": param}
    ) as resp:
        assert resp.status == 404
        assert resp.headers["x-error-message"] == "gone"
    async with client.http.get(
        f"{sim.cdn_base_url}/download", params={"encrypted_query_param": param}
    ) as resp:
        assert resp.status == 200


async def test_duplicate_of_the_next_inbound_message(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    reply = await client.control("/_sim/faults", {"kind": "duplicate", "bot_id": bot.bot_id})
    assert reply.json()["kind"] == "duplicate"
    original = sim.inject_message(bot.bot_id, text="hello once")
    sim.inject_message(bot.bot_id, text="not duplicated")
    msgs = (await client.getupdates(bot.bot_token))["msgs"]
    assert isinstance(msgs, list)
    first, copy, other = msgs
    assert copy["message_id"] != first["message_id"] == original.message_id
    assert copy["item_list"][0]["msg_id"] == copy["message_id"]
    assert copy["item_list"][0]["text_item"] == first["item_list"][0]["text_item"]
    assert copy["from_user_id"] == first["from_user_id"]
    assert copy["context_token"] == first["context_token"]
    assert copy["seq"] == first["seq"] + 1
    assert other["item_list"][0]["text_item"]["text"] == "not duplicated"


async def test_delayed_duplicate_of_a_given_message(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    original = sim.inject_message(bot.bot_id, text="again later")
    first = await client.getupdates(bot.bot_token)
    sim.add_fault(FaultPlan("duplicate", message_id=original.message_id, delay_ms=200))
    started = time.monotonic()
    sim.configure(hold_seconds=3)
    later = await client.getupdates(bot.bot_token, str(first["get_updates_buf"]))
    assert 0.15 <= time.monotonic() - started < 2
    [copy] = later["msgs"]
    assert copy["message_id"] > original.message_id
    assert copy["item_list"][0]["text_item"]["text"] == "again later"
    missing = await client.control("/_sim/faults", {"kind": "duplicate", "message_id": 1})
    assert missing.status == 404
    assert missing.json()["field"] == "message_id"


async def test_pending_delayed_duplicates_are_cancelled_on_close() -> None:
    async with Simulator() as sim:
        bot = sim.create_bot()
        sim.add_fault(FaultPlan("duplicate", delay_ms=300))
        sim.inject_message(bot.bot_id, text="x")
        await asyncio.sleep(0)
    await asyncio.sleep(0.6)  # well past the delay: a surviving task would have re-delivered
    assert len(sim.world.bot(bot.bot_id).mailbox) == 1


def test_plan_validation() -> None:
    with pytest.raises(SimulatorError) as info:
        FaultPlan("no_encrypted_param", route="getupdates")
    assert info.value.field == "route"
    with pytest.raises(SimulatorError):
        FaultPlan("latency", delay_ms=-1)
    with pytest.raises(SimulatorError):
        FaultPlan("status")
    with pytest.raises(SimulatorError):
        FaultPlan("duplicate", message_id=5, count=None)
