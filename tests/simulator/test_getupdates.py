"""The getupdates long poll: message shape, cursors, holds, batches, big IDs, tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp
import pytest

from weixin_gateway.simulator import Simulator
from weixin_gateway.simulator._ids import FIRST_MESSAGE_ID, MESSAGE_ID_SPREAD

from .conftest import BASE_INFO, ILinkClient, text_msg

BIG = 2**53


def _texts(answer: dict[str, object]) -> list[str]:
    msgs = answer["msgs"]
    assert isinstance(msgs, list)
    return [m["item_list"][0]["text_item"]["text"] for m in msgs]


async def test_inbound_message_has_the_real_shape(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    user = sim.create_user("alice")
    injected = sim.inject_message(bot.bot_id, from_user_id=user.user_id, text="hi bot")

    reply = await client.post(
        "/ilink/bot/getupdates",
        {"get_updates_buf": "", "base_info": BASE_INFO},
        token=bot.bot_token,
    )
    assert reply.status == 200
    assert f'"message_id":{injected.message_id}' in reply.text  # a bare JSON number
    answer = reply.json()
    assert answer["ret"] == 0
    assert answer["longpolling_timeout_ms"] == 35000
    [msg] = answer["msgs"]
    assert msg["message_id"] == injected.message_id > BIG
    assert msg["message_type"] == 1
    assert msg["message_state"] == 2
    assert msg["seq"] == injected.seq == 1
    assert msg["from_user_id"] == user.user_id
    assert user.user_id.endswith("@im.wechat")
    assert msg["to_user_id"] == bot.bot_id
    assert bot.bot_id.endswith("@im.bot")
    assert isinstance(msg["create_time_ms"], int)
    assert msg["context_token"] == injected.context_token
    assert injected.context_token.startswith("AARzJW")
    base64.b64decode(injected.context_token, validate=True)
    [item] = msg["item_list"]
    assert item == {
        "type": 1,
        "create_time_ms": msg["create_time_ms"],
        "msg_id": injected.message_id,
        "text_item": {"text": "hi bot"},
    }
    cursor = answer["get_updates_buf"]
    assert isinstance(cursor, str)
    assert base64.b64decode(cursor, validate=True)


async def test_every_inbound_message_gets_a_fresh_context_token(sim: Simulator) -> None:
    bot = sim.create_bot()
    tokens = {sim.inject_message(bot.bot_id, text=str(i)).context_token for i in range(5)}
    assert len(tokens) == 5


async def test_message_ids_increase_above_2_53(sim: Simulator) -> None:
    bot = sim.create_bot()
    first = sim.inject_message(bot.bot_id, text="a").message_id
    second = sim.inject_message(bot.bot_id, text="b").message_id
    assert FIRST_MESSAGE_ID <= first < FIRST_MESSAGE_ID + MESSAGE_ID_SPREAD < 2**63
    assert first > 2**53
    assert second == first + 1


async def test_a_restarted_simulator_does_not_reuse_message_ids() -> None:
    firsts = set()
    for _ in range(3):
        async with Simulator() as fresh:
            bot = fresh.create_bot()
            firsts.add(fresh.inject_message(bot.bot_id, text="a").message_id)
    assert len(firsts) == 3


async def test_cursor_advances_and_delivers_only_newer(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    sim.inject_message(bot.bot_id, text="one")
    first = await client.getupdates(bot.bot_token, "")
    assert _texts(first) == ["one"]
    c1 = first["get_updates_buf"]
    assert isinstance(c1, str)

    sim.inject_message(bot.bot_id, text="two")
    second = await client.getupdates(bot.bot_token, c1)
    assert _texts(second) == ["two"]
    c2 = second["get_updates_buf"]
    assert isinstance(c2, str)
    assert c2 != c1

    # Re-sending an old cursor is safe: the same messages after that point, nothing older.
    again = await client.getupdates(bot.bot_token, c1)
    assert _texts(again) == ["two"]
    assert again["get_updates_buf"] == c2

    idle = await client.getupdates(bot.bot_token, c2)
    assert idle["msgs"] == []
    assert idle["get_updates_buf"] == c2


async def test_empty_cursor_starts_at_the_oldest_retained(
    sim: Simulator, client: ILinkClient
) -> None:
    sim.configure(retention=3)
    bot = sim.create_bot()
    for i in range(5):
        sim.inject_message(bot.bot_id, text=f"m{i}")
    answer = await client.getupdates(bot.bot_token, "")
    assert _texts(answer) == ["m2", "m3", "m4"]


async def test_unknown_or_foreign_cursor_counts_as_empty(
    sim: Simulator, client: ILinkClient
) -> None:
    bot, other = sim.create_bot(), sim.create_bot()
    sim.inject_message(other.bot_id, text="x")
    foreign = (await client.getupdates(other.bot_token, ""))["get_updates_buf"]
    assert isinstance(foreign, str)
    sim.inject_message(bot.bot_id, text="mine")
    for cursor in (foreign, "not base64!", base64.b64encode(b"garbage").decode()):
        assert _texts(await client.getupdates(bot.bot_token, cursor)) == ["mine"]


async def test_batch_is_capped(sim: Simulator, client: ILinkClient) -> None:
    sim.configure(max_batch=2)
    bot = sim.create_bot()
    for i in range(5):
        sim.inject_message(bot.bot_id, text=str(i))
    seen: list[str] = []
    cursor = ""
    for expected in (2, 2, 1):
        answer = await client.getupdates(bot.bot_token, cursor)
        assert len(_texts(answer)) == expected
        seen += _texts(answer)
        cursor = str(answer["get_updates_buf"])
    assert seen == ["0", "1", "2", "3", "4"]


async def test_default_batch_holds_many_messages(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    for i in range(150):
        sim.inject_message(bot.bot_id, text=str(i))
    answer = await client.getupdates(bot.bot_token, "")
    assert len(_texts(answer)) == 100


async def test_hold_returns_early_when_a_message_arrives(
    sim: Simulator, client: ILinkClient
) -> None:
    sim.configure(hold_seconds=5.0)
    bot = sim.create_bot()
    started = time.monotonic()
    poll = asyncio.create_task(client.getupdates(bot.bot_token, ""))
    await asyncio.sleep(0.2)
    assert not poll.done()
    sim.inject_message(bot.bot_id, text="wake up")
    answer = await asyncio.wait_for(poll, 3)
    assert _texts(answer) == ["wake up"]
    assert time.monotonic() - started < 2.0


async def test_hold_times_out_with_no_messages(sim: Simulator, client: ILinkClient) -> None:
    sim.configure(hold_seconds=0.4)
    bot = sim.create_bot()
    started = time.monotonic()
    answer = await client.getupdates(bot.bot_token, "")
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 2.0
    assert answer["ret"] == 0
    assert answer["msgs"] == []
    cursor = answer["get_updates_buf"]
    assert isinstance(cursor, str)
    assert cursor
    assert (await client.getupdates(bot.bot_token, cursor))["get_updates_buf"] == cursor


async def test_ids_as_strings_switch(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    injected = sim.inject_message(bot.bot_id, text="hi")
    sim.configure(ids_as_strings=True)
    reply = await client.post("/ilink/bot/getupdates", {"get_updates_buf": ""}, token=bot.bot_token)
    assert f'"message_id":"{injected.message_id}"' in reply.text
    assert f'"msg_id":"{injected.message_id}"' in reply.text
    send = await client.sendmessage(
        bot.bot_token, text_msg(injected.from_user_id, "yo", injected.context_token)
    )
    assert isinstance(send.json()["message_id"], str)
    assert int(str(send.json()["message_id"])) > BIG


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer ", "Bearer nope", "Basic abc", "Bearer {token}x"],
    ids=["missing", "empty", "bearer-empty", "unknown", "wrong-scheme", "altered"],
)
async def test_bad_tokens_get_session_timeout(
    sim: Simulator, client: ILinkClient, authorization: str | None
) -> None:
    bot = sim.create_bot()
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=bot.bot_token)
    reply = await client.post("/ilink/bot/getupdates", {"get_updates_buf": ""}, headers=headers)
    assert reply.status == 200
    assert reply.json() == {"ret": -14, "errcode": -14, "errmsg": "session timeout"}


@pytest.mark.parametrize(
    "path",
    [
        "getupdates",
        "sendmessage",
        "getuploadurl",
        "getconfig",
        "sendtyping",
        "msg/notifystart",
        "msg/notifystop",
    ],
)
async def test_every_bot_route_checks_the_token(
    sim: Simulator, client: ILinkClient, path: str
) -> None:
    bot = sim.create_bot()
    sim.expire_bot(bot.bot_id)
    reply = await client.post(f"/ilink/bot/{path}", {"base_info": BASE_INFO}, token=bot.bot_token)
    assert reply.status == 200
    assert reply.json() == {"ret": -14, "errcode": -14, "errmsg": "session timeout"}


async def test_header_names_and_scheme_are_case_insensitive(
    sim: Simulator, client: ILinkClient
) -> None:
    bot = sim.create_bot()
    reply = await client.post(
        "/ilink/bot/getupdates",
        {"get_updates_buf": ""},
        headers={"authorization": f"bearer  {bot.bot_token} "},
    )
    assert reply.json()["ret"] == 0


async def test_held_poll_answers_session_timeout_when_the_bot_expires(
    sim: Simulator, client: ILinkClient
) -> None:
    sim.configure(hold_seconds=5.0)
    bot = sim.create_bot()
    poll = asyncio.create_task(client.getupdates(bot.bot_token, ""))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    sim.expire_bot(bot.bot_id)
    answer = await asyncio.wait_for(poll, 3)
    assert answer == {"ret": -14, "errcode": -14, "errmsg": "session timeout"}
    assert time.monotonic() - started < 1.0


async def test_tolerates_missing_empty_and_zero_ilink_headers(
    sim: Simulator, client: ILinkClient
) -> None:
    bot = sim.create_bot()
    bare = {"Authorization": f"Bearer {bot.bot_token}"}
    legacy = {**bare, "iLink-App-Id": "", "iLink-App-ClientVersion": "0"}
    for headers in (bare, legacy):
        reply = await client.post("/ilink/bot/getupdates", {"get_updates_buf": ""}, headers=headers)
        assert reply.json()["ret"] == 0
    no_body = await client.post("/ilink/bot/msg/notifystart", data=b"", token=bot.bot_token)
    assert no_body.json() == {"ret": 0, "errmsg": ""}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"get_updates_buf": 5}', "get_updates_buf"),
    ],
)
async def test_malformed_bodies_get_400_json(
    sim: Simulator, client: ILinkClient, body: bytes, field: str
) -> None:
    bot = sim.create_bot()
    reply = await client.post("/ilink/bot/getupdates", data=body, token=bot.bot_token)
    assert reply.status == 400
    answer = reply.json()
    assert answer["ret"] == -1
    assert answer["field"] == field
    assert answer["errmsg"]


async def test_thousands_of_idle_polls_wait_on_one_future_each(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.configure(hold_seconds=4)  # long enough that every poll is parked before any times out
    client = ILinkClient(http, sim.base_url)
    bots = [sim.create_bot() for _ in range(300)]
    polls = [asyncio.create_task(client.getupdates(b.bot_token, "")) for b in bots]
    for _ in range(160):
        await asyncio.sleep(0.05)
        if all(len(sim.world.bot(b.bot_id).mailbox.waiters) == 1 for b in bots):
            break
    assert all(len(sim.world.bot(b.bot_id).mailbox.waiters) == 1 for b in bots)
    sim.inject_message(bots[7].bot_id, text="only you")
    answer = await asyncio.wait_for(polls[7], 1.0)
    assert _texts(answer) == ["only you"]
    assert sum(p.done() for p in polls) <= 2
    rest = await asyncio.wait_for(asyncio.gather(*polls), 15)
    assert all(r["msgs"] == [] for i, r in enumerate(rest) if i != 7)
    assert all(len(sim.world.bot(b.bot_id).mailbox.waiters) == 0 for b in bots)


async def test_answer_key_order_matches_the_recording(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    sim.inject_message(bot.bot_id, text="x")
    reply = await client.post("/ilink/bot/getupdates", {"get_updates_buf": ""}, token=bot.bot_token)
    answer = json.loads(reply.text)
    assert list(answer) == ["ret", "msgs", "get_updates_buf", "longpolling_timeout_ms"]
    assert list(answer["msgs"][0])[:4] == ["seq", "message_id", "from_user_id", "to_user_id"]
