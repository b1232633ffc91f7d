"""The whole loop once per backend and mode: message in, event out, reply sent."""

from __future__ import annotations

from tests.service.harness import GatewayHarness, eventually


async def test_callback_round_trip(harness: GatewayHarness) -> None:
    account_id = await harness.register()
    assert harness.bot is not None
    harness.sim.inject_message(harness.bot.bot_id, text="hello gateway")
    [event] = await harness.upstream.wait_events(1)
    assert event["type"] == "message"
    assert event["account_id"] == account_id
    assert event["text"] == "hello gateway"
    assert event["user_id"] == harness.bot.user_id == event["chat_id"]
    assert event["context_token"]
    status, body = await harness.call(
        "POST",
        "/send",
        body={
            "account_id": account_id,
            "to_user_id": event["user_id"],
            "context_token": event["context_token"],
            "items": [{"type": "text", "text": "echo: hello gateway"}],
        },
    )
    assert status == 200, body
    assert body["ok"] is True
    [reply] = harness.sim.sent(harness.bot.bot_id)
    assert reply.text == "echo: hello gateway"


async def test_inbox_round_trip(harness_inbox: GatewayHarness) -> None:
    h = harness_inbox
    await h.register()
    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="pull me")
    status, body = await h.call("GET", "/inbox/messages?wait=10")
    assert status == 200
    [message] = body["messages"]
    assert message["text"] == "pull me"
    assert message["status"] == "pending"
    status, body = await h.call(
        "POST", f"/inbox/messages/{message['id']}/claim", body={"worker_id": "w1"}
    )
    assert status == 200
    assert body["message"]["status"] == "claimed"
    status, body = await h.call(
        "POST", f"/inbox/messages/{message['id']}/complete", body={"completion_note": "done"}
    )
    assert status == 200
    assert body["message"]["status"] == "completed"
    status, body = await h.call("GET", "/inbox/messages")
    assert body["messages"] == []
    assert h.upstream.attempts == 0


async def test_notify_start_and_stop_around_polling(harness: GatewayHarness) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    bot_id = h.bot.bot_id

    def kinds() -> list[str]:
        return [n.kind for n in h.sim.notifications(bot_id)]

    await eventually(lambda: kinds() == ["start"])
    status, _ = await h.call("POST", "/poll/stop")
    assert status == 200
    await eventually(lambda: kinds() == ["start", "stop"])
    await h.call("POST", "/poll/start")
    await eventually(lambda: kinds() == ["start", "stop", "start"])


async def test_nul_characters_and_long_ids_never_block_an_account(harness: GatewayHarness) -> None:
    h = harness
    await h.register()
    assert h.bot is not None
    long_user = "o9cq80" + "x" * 300 + "@im.wechat"
    h.sim.inject_message(h.bot.bot_id, text="nul \x00 inside")
    h.sim.inject_message(h.bot.bot_id, from_user_id=long_user, text="long sender")
    h.sim.inject_message(h.bot.bot_id, text="after")
    events = await h.upstream.wait_events(3)
    by_user = {(e["user_id"], e["text"]) for e in events}  # order is per conversation only
    assert by_user == {
        (h.bot.user_id, "nul \ufffd inside"),
        (long_user, "long sender"),
        (h.bot.user_id, "after"),
    }


async def test_a_new_token_gets_a_new_client(harness: GatewayHarness) -> None:
    h = harness
    account_id = await h.register("wx-rotating")
    assert h.bot is not None
    old_client = h.gateway.client_for(await h.gateway.account(account_id))
    other = h.sim.create_bot()
    status, _ = await h.call(
        "POST",
        "/accounts/register",
        body={
            "account_id": account_id,
            "api_base_url": h.sim.base_url,
            "bot_token": other.bot_token,
        },
    )
    assert status == 200
    record = await h.gateway.account(account_id)
    new_client = h.gateway.client_for(record)
    assert new_client is not old_client
    assert new_client.api.token == other.bot_token
    h.sim.inject_message(other.bot_id, text="to the new bot")
    [event] = await h.upstream.wait_events(1)
    assert event["text"] == "to the new bot"
