"""QR login: every status, verify codes, the redirect host, TTL, and the control routes."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator import Simulator, SimulatorConfig, SimulatorError

from .conftest import APP_HEADERS, ILinkClient

STATUS_HEADERS = {"iLink-App-Id": "bot", "iLink-App-ClientVersion": "132105"}


async def _create(client: ILinkClient, tokens: list[str] | None = None) -> str:
    reply = await client.post(
        "/ilink/bot/get_bot_qrcode?bot_type=3",
        {"local_token_list": tokens or []},
        headers=APP_HEADERS,
    )
    assert reply.status == 200
    qrcode = reply.json()["qrcode"]
    assert isinstance(qrcode, str)
    return qrcode


async def _status(
    client: ILinkClient, qrcode: str, verify_code: str | None = None, base_url: str | None = None
) -> dict[str, object]:
    query = f"qrcode={qrcode}" + (f"&verify_code={verify_code}" if verify_code else "")
    url = (base_url or client.base_url) + f"/ilink/bot/get_qrcode_status?{query}"
    async with client.http.get(url, headers=STATUS_HEADERS) as resp:
        assert resp.status == 200
        data = await resp.json()
    assert isinstance(data, dict)
    return data


async def test_create_qrcode_post_and_legacy_get(sim: Simulator, client: ILinkClient) -> None:
    reply = await client.post(
        "/ilink/bot/get_bot_qrcode?bot_type=3", {"local_token_list": ["tok-new", "tok-old"]}
    )
    answer = reply.json()
    qrcode = str(answer["qrcode"])
    assert re.fullmatch(r"[0-9a-f]{32}", qrcode)
    assert re.fullmatch(
        rf"https://liteapp\.weixin\.qq\.com/q/[\w-]+\?qrcode={qrcode}&bot_type=3",
        str(answer["qrcode_img_content"]),
    )
    legacy = await client.get("/ilink/bot/get_bot_qrcode?bot_type=3")
    assert legacy.status == 200
    assert legacy.json()["qrcode"] != qrcode
    sessions = sim.qr_sessions()
    assert sessions[0].qrcode == qrcode
    assert sessions[0].local_tokens == ("tok-new", "tok-old")
    assert sessions[0].bot_type == "3"
    listed = (await client.get("/_sim/qrcodes")).json()["qrcodes"]
    assert [q["qrcode"] for q in listed] == [s.qrcode for s in sessions]
    assert listed[0]["local_token_count"] == 2
    one = (await client.get(f"/_sim/qrcodes/{qrcode}")).json()
    assert (one["qrcode"], one["status"], one["bot_type"]) == (qrcode, "wait", "3")
    assert (await client.get("/_sim/qrcodes/nope")).status == 404
    # The QR routes need no token; the bad local_token_list type is a 400.
    bad = await client.post("/ilink/bot/get_bot_qrcode?bot_type=3", {"local_token_list": "x"})
    assert bad.status == 400


async def test_status_waits_then_answers_wait(sim: Simulator, client: ILinkClient) -> None:
    qrcode = await _create(client)
    started = time.monotonic()
    assert await _status(client, qrcode) == {"ret": 0, "status": "wait"}
    assert time.monotonic() - started >= 0.25


async def test_held_status_poll_returns_when_scanned(sim: Simulator, client: ILinkClient) -> None:
    sim.configure(qr_hold_seconds=5.0)
    qrcode = await _create(client)
    poll = asyncio.create_task(_status(client, qrcode))
    await asyncio.sleep(0.2)
    assert not poll.done()
    scanned = await client.control(f"/_sim/qrcodes/{qrcode}/scan", {})
    assert scanned.json()["status"] == "scaned"
    started = time.monotonic()
    assert (await asyncio.wait_for(poll, 2))["status"] == "scaned"
    assert time.monotonic() - started < 3.0


async def test_full_login_with_verify_code_and_redirect(
    sim: Simulator, client: ILinkClient
) -> None:
    qrcode = await _create(client)
    user = sim.create_user("owner")
    await client.control(f"/_sim/qrcodes/{qrcode}/scan", {"user_id": user.user_id})
    assert (await _status(client, qrcode))["status"] == "scaned"

    await client.control(f"/_sim/qrcodes/{qrcode}/verify-code", {"code": "42"})
    assert (await _status(client, qrcode))["status"] == "need_verifycode"
    assert (await _status(client, qrcode, verify_code="41"))["status"] == "need_verifycode"
    assert (await _status(client, qrcode, verify_code="42"))["status"] == "scaned"

    host = f"localhost:{sim.port}"
    await client.control(f"/_sim/qrcodes/{qrcode}/redirect", {"host": host})
    answer = await _status(client, qrcode)
    assert answer == {"ret": 0, "status": "scaned_but_redirect", "redirect_host": host}

    # The client keeps its scheme and polls the redirect host from now on.
    redirected = f"http://{answer['redirect_host']}"
    poll = asyncio.create_task(_status(client, qrcode, base_url=redirected))
    await asyncio.sleep(0.1)
    confirmed = await client.control(f"/_sim/qrcodes/{qrcode}/confirm", {})
    assert confirmed.status == 200
    confirm = confirmed.json()
    status = await asyncio.wait_for(poll, 2)
    assert status == {
        "ret": 0,
        "status": "confirmed",
        "bot_token": confirm["bot_token"],
        "ilink_bot_id": confirm["bot_id"],
        "baseurl": sim.base_url,
        "ilink_user_id": user.user_id,
    }
    assert str(status["ilink_bot_id"]).endswith("@im.bot")
    hosts = [r.host for r in sim.requests if r.route == "get_qrcode_status"]
    assert hosts[0] == f"127.0.0.1:{sim.port}"
    assert hosts[-1] == host
    # The new bot works at once.
    assert (await client.getupdates(str(status["bot_token"])))["ret"] == 0
    # A confirmed session keeps answering confirmed without holding.
    assert (await _status(client, qrcode))["status"] == "confirmed"


async def test_three_wrong_codes_block(sim: Simulator, client: ILinkClient) -> None:
    qrcode = await _create(client)
    sim.scan(qrcode)
    sim.require_verify_code(qrcode, "1234")
    assert (await _status(client, qrcode))["status"] == "need_verifycode"
    answers = [(await _status(client, qrcode, verify_code=c))["status"] for c in ("1", "2", "3")]
    assert answers == ["need_verifycode", "need_verifycode", "verify_code_blocked"]
    assert sim.qr_session(qrcode).wrong_codes == 3
    assert (await _status(client, qrcode, verify_code="1234"))["status"] == "verify_code_blocked"


@pytest.mark.parametrize(
    ("action", "status"), [("expire", "expired"), ("bound", "binded_redirect")]
)
async def test_final_statuses_from_the_control_api(
    sim: Simulator, client: ILinkClient, action: str, status: str
) -> None:
    qrcode = await _create(client)
    reply = await client.control(f"/_sim/qrcodes/{qrcode}/{action}")
    assert reply.json() == {"status": status}
    assert await _status(client, qrcode) == {"ret": 0, "status": status}
    again = await client.control(f"/_sim/qrcodes/{qrcode}/scan")
    assert again.status == 400
    assert again.json()["field"] == "qrcode"


@pytest.fixture
async def clocked() -> AsyncIterator[tuple[Simulator, FakeClock]]:
    clock = FakeClock()
    config = SimulatorConfig(qr_hold_seconds=0.2, qr_ttl_seconds=300)
    async with Simulator(config, clock=clock) as simulator:
        yield simulator, clock


async def test_qrcode_expires_after_its_ttl(
    clocked: tuple[Simulator, FakeClock], http: aiohttp.ClientSession
) -> None:
    sim, clock = clocked
    client = ILinkClient(http, sim.base_url)
    qrcode = await _create(client)
    sim.scan(qrcode)
    clock.advance(301)
    assert (await _status(client, qrcode))["status"] == "expired"


async def test_unknown_and_missing_qrcode(sim: Simulator, client: ILinkClient) -> None:
    assert await _status(client, "0" * 32) == {"ret": 0, "status": "expired"}
    missing = await client.get("/ilink/bot/get_qrcode_status")
    assert missing.status == 400
    assert missing.json()["field"] == "qrcode"
    for action in ("scan", "confirm", "expire", "bound"):
        reply = await client.control(f"/_sim/qrcodes/nope/{action}")
        assert reply.status == 404
        assert reply.json()["field"] == "qrcode"


async def test_confirm_needs_the_verify_code_first(sim: Simulator, client: ILinkClient) -> None:
    qrcode = await _create(client)
    sim.require_verify_code(qrcode, "7")
    reply = await client.control(f"/_sim/qrcodes/{qrcode}/confirm")
    assert reply.status == 400
    with pytest.raises(SimulatorError):
        sim.confirm(qrcode)


async def test_confirm_without_scan_and_replacing_older_bots(
    sim: Simulator, client: ILinkClient
) -> None:
    user = sim.create_user()
    old = sim.create_bot(user.user_id)
    qrcode = await _create(client)
    sim.scan(qrcode, user.user_id)
    session = sim.confirm(qrcode)
    assert session.user_id == user.user_id
    assert sim.bot(old.bot_id).expired
    assert (await client.getupdates(old.bot_token))["ret"] == -14

    sim.configure(expire_replaced_bots=False)
    second = sim.create_bot(user.user_id)
    qrcode = await _create(client)
    session = sim.confirm(qrcode)  # confirm without a scan: a new user
    assert session.user_id != user.user_id
    assert not sim.bot(second.bot_id).expired


async def test_local_token_of_the_same_user_answers_binded_redirect(
    sim: Simulator, client: ILinkClient
) -> None:
    user = sim.create_user()
    bot = sim.create_bot(user.user_id)
    qrcode = await _create(client, ["other-token", bot.bot_token])
    reply = await client.control(f"/_sim/qrcodes/{qrcode}/scan", {"user_id": user.user_id})
    assert reply.json()["status"] == "binded_redirect"
    assert (await _status(client, qrcode))["status"] == "binded_redirect"
    # Another user scanning a QR code with that token list just scans.
    qrcode = await _create(client, [bot.bot_token])
    assert sim.scan(qrcode).status == "scaned"
