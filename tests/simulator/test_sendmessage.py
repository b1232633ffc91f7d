"""sendmessage: validation, recording, and each ret:-2 rule (and switching it off)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator import InjectedMessage, SimBot, Simulator, SimulatorConfig

from .conftest import BASE_INFO, ILinkClient, text_msg

REFUSED = {"ret": -2, "errmsg": ""}


@pytest.fixture
def inbound(sim: Simulator) -> tuple[SimBot, InjectedMessage]:
    bot = sim.create_bot()
    return bot, sim.inject_message(bot.bot_id, text="hello")


async def test_text_reply_is_accepted_and_recorded(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    reply = await client.sendmessage(
        bot.bot_token,
        text_msg(msg.from_user_id, "hi there", msg.context_token, run_id="run-1"),
    )
    assert reply.status == 200
    answer = reply.json()
    assert answer["ret"] == 0
    assert f'"message_id":{answer["message_id"]}' in reply.text
    assert isinstance(answer["message_id"], int)
    assert answer["message_id"] > msg.message_id > 2**53
    [sent] = sim.sent(bot.bot_id)
    assert sent.message_id == answer["message_id"]
    assert sent.to_user_id == msg.from_user_id
    assert sent.client_id == "openclaw-weixin:1795317871523-4d214df2"
    assert sent.run_id == "run-1"
    assert sent.context_token == msg.context_token
    assert sent.text == "hi there"
    assert sent.items[0].type == "text"


async def test_tool_call_items_are_recorded(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    start = {
        "type": 11,
        "create_time_ms": 1763780405000,
        "is_completed": False,
        "tool_call_start_item": {"tool_name": "web_search", "tool_call_id": "call_abc123"},
    }
    result = {
        "type": 12,
        "create_time_ms": 1763780409000,
        "is_completed": True,
        "tool_call_result_item": {
            "tool_name": "web_search",
            "tool_call_id": "call_abc123",
            "status": "completed",
        },
    }
    for item in (start, result):
        reply = await client.sendmessage(
            bot.bot_token, text_msg(msg.from_user_id, "", msg.context_token, item_list=[item])
        )
        assert reply.json()["ret"] == 0
    first, second = sim.sent(bot.bot_id)
    assert (first.items[0].type, first.items[0].tool_name) == ("tool_call_start", "web_search")
    assert first.items[0].raw == start
    assert second.items[0].type == "tool_call_result"
    assert second.items[0].status == "completed"
    assert second.items[0].tool_call_id == "call_abc123"
    view = (await client.get(f"/_sim/bots/{bot.bot_id}/sent")).json()
    assert view["messages"][1]["items"] == [
        {
            "type": "tool_call_result",
            "tool_name": "web_search",
            "tool_call_id": "call_abc123",
            "status": "completed",
        }
    ]


async def test_a_message_without_items_is_accepted(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    body = text_msg(msg.from_user_id, "", msg.context_token)
    del body["item_list"]
    assert (await client.sendmessage(bot.bot_token, body)).json()["ret"] == 0
    assert sim.sent(bot.bot_id)[0].items == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to_user_id": ""}, "msg.to_user_id"),
        ({"to_user_id": None}, "msg.to_user_id"),
        ({"message_type": 1}, "msg.message_type"),
        ({"item_list": [{"type": 1}, {"type": 1}]}, "msg.item_list"),
        ({"item_list": [{"type": "1"}]}, "msg.item_list.0.type"),
    ],
)
async def test_invalid_messages_get_400(
    sim: Simulator,
    client: ILinkClient,
    inbound: tuple[SimBot, InjectedMessage],
    change: dict[str, object],
    field: str,
) -> None:
    bot, msg = inbound
    body = text_msg(msg.from_user_id, "x", msg.context_token)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    reply = await client.sendmessage(bot.bot_token, body)
    assert reply.status == 400
    assert reply.json()["field"] == field
    assert sim.sent(bot.bot_id) == ()


async def test_missing_msg_gets_400(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    reply = await client.post(
        "/ilink/bot/sendmessage", {"base_info": BASE_INFO}, token=bot.bot_token
    )
    assert reply.status == 400
    assert reply.json()["field"] == "msg"


async def test_require_context_token_rule(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    reply = await client.sendmessage(bot.bot_token, text_msg(msg.from_user_id, "x", None))
    assert reply.json() == REFUSED
    assert sim.sent(bot.bot_id) == ()
    sim.configure(require_context_token=False)
    reply = await client.sendmessage(bot.bot_token, text_msg(msg.from_user_id, "x", None))
    assert reply.json()["ret"] == 0


async def test_check_context_token_rule(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    other_user = sim.create_user()
    other = sim.inject_message(bot.bot_id, from_user_id=other_user.user_id, text="me too")
    altered = msg.context_token[:-2] + "AA"
    for token in (altered, other.context_token):
        reply = await client.sendmessage(bot.bot_token, text_msg(msg.from_user_id, "x", token))
        assert reply.json() == REFUSED
    # A token of another bot is unknown to this one.
    other_bot = sim.create_bot()
    foreign = sim.inject_message(other_bot.bot_id, from_user_id=msg.from_user_id, text="x")
    reply = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "x", foreign.context_token)
    )
    assert reply.json() == REFUSED
    sim.configure(check_context_token=False)
    reply = await client.sendmessage(bot.bot_token, text_msg(msg.from_user_id, "x", altered))
    assert reply.json()["ret"] == 0


@pytest.fixture
async def fake_clock_sim() -> AsyncIterator[tuple[Simulator, FakeClock]]:
    clock = FakeClock()
    async with Simulator(SimulatorConfig(hold_seconds=0.3), clock=clock) as simulator:
        yield simulator, clock


async def test_reply_window_rule_uses_the_injected_clock(
    fake_clock_sim: tuple[Simulator, FakeClock], http: aiohttp.ClientSession
) -> None:
    sim, clock = fake_clock_sim
    client = ILinkClient(http, sim.base_url)
    bot = sim.create_bot()
    msg = sim.inject_message(bot.bot_id, text="hi")
    clock.advance(86_399)
    ok = await client.sendmessage(bot.bot_token, text_msg(msg.from_user_id, "a", msg.context_token))
    assert ok.json()["ret"] == 0
    clock.advance(2)
    late = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "b", msg.context_token)
    )
    assert late.json() == REFUSED
    # A new message from the user reopens the window (the old token works again, too).
    sim.inject_message(bot.bot_id, text="again")
    reopened = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "c", msg.context_token)
    )
    assert reopened.json()["ret"] == 0
    clock.advance(90_000)
    sim.configure(reply_window_seconds=None)
    off = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "d", msg.context_token)
    )
    assert off.json()["ret"] == 0


async def test_window_is_closed_for_a_user_who_never_wrote(
    sim: Simulator, client: ILinkClient
) -> None:
    sim.configure(require_context_token=False)
    bot = sim.create_bot()
    stranger = sim.create_user()
    reply = await client.sendmessage(bot.bot_token, text_msg(stranger.user_id, "hi", None))
    assert reply.json() == REFUSED


async def test_max_replies_per_inbound_rule(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    for i in range(10):
        reply = await client.sendmessage(
            bot.bot_token, text_msg(msg.from_user_id, str(i), msg.context_token)
        )
        assert reply.json()["ret"] == 0, i
    eleventh = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "11", msg.context_token)
    )
    assert eleventh.json() == REFUSED
    assert len(sim.sent(bot.bot_id)) == 10
    fresh = sim.inject_message(bot.bot_id, text="more please")
    reply = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "x", fresh.context_token)
    )
    assert reply.json()["ret"] == 0
    # Switched off at runtime through the control API.
    switched = await client.control("/_sim/config", {"max_replies_per_inbound": None})
    assert switched.json()["max_replies_per_inbound"] is None
    reply = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "12", msg.context_token)
    )
    assert reply.json()["ret"] == 0


async def test_request_body_is_recorded_byte_for_byte(
    sim: Simulator, client: ILinkClient, inbound: tuple[SimBot, InjectedMessage]
) -> None:
    bot, msg = inbound
    body = json.dumps(
        {"msg": text_msg(msg.from_user_id, "x", msg.context_token), "base_info": BASE_INFO},
        separators=(",", ":"),
    ).encode()
    await client.post("/ilink/bot/sendmessage", data=body, token=bot.bot_token)
    [record] = [r for r in sim.requests if r.route == "sendmessage"]
    assert record.body == body
    assert record.header("authorization") == f"Bearer {bot.bot_token}"
    assert record.bot_id == bot.bot_id
    assert "iLink-App-ClientVersion" in record.header_names()
