"""The /_sim/ control API: every route, its Python twin, and 4xx answers naming the field."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from weixin_gateway.simulator import (
    MediaSpec,
    QuoteSpec,
    Simulator,
    SimulatorConfig,
    SimulatorError,
    SimulatorNotFoundError,
)

from .conftest import BASE_INFO, ILinkClient, text_msg


async def test_users(sim: Simulator, client: ILinkClient) -> None:
    created = (await client.control("/_sim/users", {"name": "alice"})).json()
    assert str(created["user_id"]).endswith("@im.wechat")
    assert created["name"] == "alice"
    fixed = (await client.control("/_sim/users", {"user_id": "bob@im.wechat"})).json()
    assert fixed["user_id"] == "bob@im.wechat"
    listed = (await client.get("/_sim/users")).json()["users"]
    assert [u["user_id"] for u in listed] == [created["user_id"], "bob@im.wechat"]
    assert [u.user_id for u in sim.users()] == [created["user_id"], "bob@im.wechat"]


async def test_bots(sim: Simulator, client: ILinkClient) -> None:
    bot = (await client.control("/_sim/bots", {})).json()
    assert set(bot) >= {"bot_id", "bot_token", "user_id", "base_url", "cdn_base_url"}
    assert bot["base_url"] == sim.base_url
    assert bot["cdn_base_url"] == sim.base_url + "/c2c"
    assert str(bot["bot_token"]).startswith(f"{bot['bot_id']}:")
    scripted = (
        await client.control(
            "/_sim/bots",
            {
                "owner_user_id": "owner@im.wechat",
                "bot_id": "e06c1ceea05e@im.bot",
                "bot_token": "e06c1ceea05e@im.bot:0600",
            },
        )
    ).json()
    assert (scripted["bot_id"], scripted["bot_token"], scripted["user_id"]) == (
        "e06c1ceea05e@im.bot",
        "e06c1ceea05e@im.bot:0600",
        "owner@im.wechat",
    )
    assert (await client.getupdates("e06c1ceea05e@im.bot:0600"))["ret"] == 0
    listed = (await client.get("/_sim/bots")).json()["bots"]
    assert [b["bot_id"] for b in listed] == [bot["bot_id"], "e06c1ceea05e@im.bot"]
    one = (await client.get("/_sim/bots/e06c1ceea05e@im.bot")).json()
    assert one["expired"] is False
    expired = (await client.control("/_sim/bots/e06c1ceea05e@im.bot/expire")).json()
    assert expired["expired"] is True
    assert (await client.getupdates("e06c1ceea05e@im.bot:0600"))["ret"] == -14
    duplicate = await client.control("/_sim/bots", {"bot_id": "e06c1ceea05e@im.bot"})
    assert duplicate.status == 400
    assert duplicate.json()["field"] == "bot_id"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/_sim/bots", {"bot_token": 5}, 400, "bot_token"),
        ("/_sim/bots", {"owner": "x"}, 400, "owner"),
        ("/_sim/users", {"name": ["x"]}, 400, "name"),
        ("/_sim/messages", {"text": "hi"}, 400, "bot_id"),
        ("/_sim/messages", {"bot_id": "nope@im.bot", "text": "hi"}, 404, "bot_id"),
        ("/_sim/bots/nope@im.bot/expire", {}, 404, "bot_id"),
        ("/_sim/faults", {"kind": "explode"}, 400, "kind"),
        ("/_sim/faults", {"kind": "status", "status": 200}, 400, "status"),
        ("/_sim/faults", {"kind": "latency", "route": "nowhere"}, 400, "route"),
        ("/_sim/faults", {"kind": "latency", "count": 0}, 400, "count"),
        ("/_sim/config", {"hold_seconds": "1"}, 400, "hold_seconds"),
        ("/_sim/config", {"ids_as_strings": 1}, 400, "ids_as_strings"),
        ("/_sim/config", {"nonsense": 1}, 400, "nonsense"),
        ("/_sim/config", {"max_batch": 0}, 400, "max_batch"),
        ("/_sim/qrcodes/nope/verify-code", {"code": "1"}, 404, "qrcode"),
        ("/_sim/qrcodes/nope/redirect", {}, 400, "host"),
    ],
)
async def test_control_errors_name_the_field(
    sim: Simulator,
    client: ILinkClient,
    path: str,
    body: dict[str, object],
    status: int,
    field: str,
) -> None:
    reply = await client.control(path, body)
    assert reply.status == status, reply.text
    answer = reply.json()
    assert answer["field"] == field
    assert answer["error"]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({}, "text"),
        ({"items": [{"type": "gif", "size": 1}]}, "items[0].type"),
        ({"items": [{"type": "image", "data_base64": "@@@"}]}, "items[0].data_base64"),
        ({"items": [{"type": "image"}]}, "items[0].data_base64"),
        ({"items": [{"type": "file", "size": 3, "key_encoding": "none"}]}, "items[0].key_encoding"),
        (
            {"items": [{"type": "file", "size": 3, "key_encoding": "base64"}]},
            "items[0].key_encoding",
        ),
        ({"items": [{"type": "file", "size": 3, "colour": "red"}]}, "items[0].colour"),
        ({"items": [{"type": "file", "path": "/no/such/file"}]}, "items[0].path"),
        ({"items": [{"type": "file", "size": 1 << 40}]}, "items[0].size"),
        ({"text": "x", "items": [{"type": "text"}]}, "items[0].text"),
        ({"items": "x"}, "items"),
        ({"text": "x", "ref_msg": {}}, "ref_msg.text"),
        ({"text": "x", "ref_msg": {"item": {"type": "voice"}}}, "ref_msg.item.data_base64"),
        ({"text": "x", "ref_msg": {"partial_text": {"start": 1}}}, "ref_msg.partial_text.start"),
    ],
)
async def test_message_errors_name_the_field(
    sim: Simulator, client: ILinkClient, message: dict[str, object], field: str
) -> None:
    bot = sim.create_bot()
    reply = await client.control("/_sim/messages", {"bot_id": bot.bot_id, **message})
    assert reply.status == 400, reply.text
    assert reply.json()["field"] == field


async def test_malformed_control_json(sim: Simulator, client: ILinkClient) -> None:
    async with client.http.post(sim.base_url + "/_sim/users", data=b"{oops") as resp:
        assert resp.status == 400
        assert (await resp.json())["field"] == "body"
    unknown = await client.get("/_sim/nothing")
    assert unknown.status == 404
    assert "error" in unknown.json()


async def test_inject_text_items_and_inline_quote(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    data = base64.b64encode(b"picture bytes").decode()
    reply = await client.control(
        "/_sim/messages",
        {
            "bot_id": bot.bot_id,
            "from_user_id": user.user_id,
            "text": "what does this mean?",
            "items": [{"type": "image", "data_base64": data, "key_encoding": "hex"}],
            "ref_msg": {"text": "hi bot", "msg_id": "7439127366421238785"},
        },
    )
    answer = reply.json()
    assert f'"message_id":{answer["message_id"]}' in reply.text
    assert str(answer["context_token"]).startswith("AARzJW")
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    assert msg["message_id"] == answer["message_id"]
    assert msg["from_user_id"] == user.user_id
    text, image = msg["item_list"]
    assert text["text_item"] == {"text": "what does this mean?"}
    assert text["ref_msg"] == {
        "title": "hi bot",
        "message_item": {"type": 1, "msg_id": 7439127366421238785, "text_item": {"text": "hi bot"}},
    }
    assert image["type"] == 2
    assert "ref_msg" not in image
    assert len(base64.b64decode(image["image_item"]["media"]["aes_key"])) == 32


async def test_quote_by_id_with_partial_text(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    partial = {
        "start": "a",
        "end": "c",
        "startindex": 1,
        "endindex": 1,
        "quotemd5": "900150983cd24fb0d6963f7d28e17f72",
    }
    await client.control(
        "/_sim/messages",
        {
            "bot_id": bot.bot_id,
            "text": "explain this part",
            "ref_msg": {"svr_id": 7439127366421239001, "partial_text": partial},
        },
    )
    reply = await client.post("/ilink/bot/getupdates", {"get_updates_buf": ""}, token=bot.bot_token)
    assert '"svr_id":7439127366421239001' in reply.text
    [msg] = reply.json()["msgs"]
    assert msg["item_list"][0]["ref_msg"] == {
        "svr_id": 7439127366421239001,
        "partial_text": partial,
    }


async def test_quote_of_media_in_python(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    sim.inject_message(
        bot.bot_id,
        text="look",
        ref_msg=QuoteSpec(item=MediaSpec("file", size=40, file_name="a.txt"), msg_id=12),
    )
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    ref = msg["item_list"][0]["ref_msg"]
    assert ref["title"] == "[文件]"
    assert ref["message_item"]["type"] == 4
    assert ref["message_item"]["msg_id"] == 12
    assert ref["message_item"]["file_item"]["file_name"] == "a.txt"


async def test_message_from_an_unknown_user_registers_it(sim: Simulator) -> None:
    bot = sim.create_bot()
    injected = sim.inject_message(bot.bot_id, from_user_id="new@im.wechat", text="hi")
    assert injected.from_user_id == "new@im.wechat"
    assert "new@im.wechat" in {u.user_id for u in sim.users()}
    # Without a sender the message comes from the bot's owner.
    assert sim.inject_message(bot.bot_id, text="me").from_user_id == bot.user_id


async def test_typing_and_notifications(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    user = sim.create_user()
    config = await client.post(
        "/ilink/bot/getconfig",
        {"ilink_user_id": user.user_id, "context_token": "AARzJW", "base_info": BASE_INFO},
        token=bot.bot_token,
    )
    ticket = config.json()["typing_ticket"]
    assert config.json() == {"ret": 0, "typing_ticket": ticket}
    assert isinstance(ticket, str)
    base64.b64decode(ticket, validate=True)
    again = await client.post(
        "/ilink/bot/getconfig", {"ilink_user_id": user.user_id}, token=bot.bot_token
    )
    assert again.json()["typing_ticket"] == ticket == sim.typing_ticket(bot.bot_id, user.user_id)
    other = sim.create_user()
    assert sim.typing_ticket(bot.bot_id, other.user_id) != ticket

    for status in (1, 1, 2):
        reply = await client.post(
            "/ilink/bot/sendtyping",
            {"ilink_user_id": user.user_id, "typing_ticket": ticket, "status": status},
            token=bot.bot_token,
        )
        assert reply.json() == {"ret": 0}
    wrong = await client.post(
        "/ilink/bot/sendtyping",
        {"ilink_user_id": user.user_id, "typing_ticket": "bad", "status": 1},
        token=bot.bot_token,
    )
    assert wrong.json()["ret"] == -1
    bad_status = await client.post(
        "/ilink/bot/sendtyping",
        {"ilink_user_id": user.user_id, "typing_ticket": ticket, "status": 3},
        token=bot.bot_token,
    )
    assert bad_status.status == 400
    assert bad_status.json()["field"] == "status"
    assert [e.status for e in sim.typing(bot.bot_id)] == [1, 1, 2]
    view = (await client.get(f"/_sim/bots/{bot.bot_id}/typing")).json()["events"]
    assert [(e["user_id"], e["status"]) for e in view] == [(user.user_id, s) for s in (1, 1, 2)]

    for path in ("msg/notifystart", "msg/notifystop"):
        reply = await client.post(
            f"/ilink/bot/{path}", {"base_info": BASE_INFO}, token=bot.bot_token
        )
        assert reply.json() == {"ret": 0, "errmsg": ""}
    assert [n.kind for n in sim.notifications(bot.bot_id)] == ["start", "stop"]
    view = (await client.get(f"/_sim/bots/{bot.bot_id}/notifications")).json()
    assert [n["kind"] for n in view["notifications"]] == ["start", "stop"]
    missing = await client.get("/_sim/bots/nope@im.bot/typing")
    assert missing.status == 404


async def test_request_log_redacts_tokens_over_http(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    await client.getupdates(bot.bot_token)
    await client.post("/ilink/bot/get_bot_qrcode?bot_type=3", {"local_token_list": [bot.bot_token]})
    secret = bot.bot_token.split(":", 1)[1]

    view = await client.get("/_sim/requests")
    assert secret not in view.text
    records = view.json()["requests"]
    assert isinstance(records, list)
    assert [r["route"] for r in records] == ["getupdates", "get_bot_qrcode"]
    headers = dict(records[0]["headers"])
    assert headers["Authorization"] == f"Bearer {bot.bot_id}:***"
    assert headers["iLink-App-Id"] == "bot"  # original header case kept
    assert json.loads(records[1]["body"]) == {"local_token_list": [f"{bot.bot_id}:***"]}
    assert records[1]["query"] == [["bot_type", "3"]]

    only = (await client.get("/_sim/requests?route=getupdates")).json()["requests"]
    assert len(only) == 1
    # The Python view keeps everything.
    assert sim.requests[0].header("Authorization") == f"Bearer {bot.bot_token}"
    assert (await client.delete("/_sim/requests")).status == 200
    assert sim.requests == ()


async def test_config_routes_and_python_twin(sim: Simulator, client: ILinkClient) -> None:
    current = (await client.get("/_sim/config")).json()
    assert current["hold_seconds"] == 0.3
    assert current["reply_window_seconds"] == 86400.0
    changed = (
        await client.control("/_sim/config", {"reply_window_seconds": 60, "max_batch": 5})
    ).json()
    assert changed["reply_window_seconds"] == 60.0
    assert sim.config.max_batch == 5
    assert sim.configure(max_batch=7).max_batch == 7
    assert sim.configure({"max_batch": 8}, ids_as_strings=True).max_batch == 8
    odd = await client.control("/_sim/config", {"self": 1})
    assert odd.status == 400
    assert odd.json()["field"] == "self"
    with pytest.raises(SimulatorError) as info:
        sim.configure(max_batch="7")
    assert info.value.field == "max_batch"
    with pytest.raises(SimulatorError):
        SimulatorConfig(hold_seconds=-1)


async def test_python_api_errors(sim: Simulator) -> None:
    with pytest.raises(SimulatorNotFoundError) as info:
        sim.sent("nope@im.bot")
    assert info.value.field == "bot_id"
    with pytest.raises(SimulatorError) as bad_spec:
        MediaSpec("file", size=1, data=b"x")
    assert bad_spec.value.field == "data_base64"


async def test_sent_view_lists_media_errors(sim: Simulator, client: ILinkClient) -> None:
    sim.configure(require_context_token=False, reply_window_seconds=None)
    bot = sim.create_bot()
    item = {
        "type": 4,
        "file_item": {
            "media": {"encrypt_query_param": "missing", "aes_key": "AAAA"},
            "file_name": "x",
        },
    }
    await client.sendmessage(bot.bot_token, text_msg("u@im.wechat", "", None, item_list=[item]))
    view = (await client.get(f"/_sim/bots/{bot.bot_id}/sent")).json()
    [sent] = view["messages"][0]["items"]
    assert sent["type"] == "file"
    assert sent["data_base64"] is None
    assert sent["error"]


async def test_stats_count_held_long_polls(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot(sim.create_user("alice").user_id)
    assert (await client.get("/_sim/stats")).json() == {"bots": 1, "users": 1, "held_polls": 0}
    sim.configure({"hold_seconds": 5})
    poll = asyncio.create_task(client.getupdates(bot.bot_token))
    for _ in range(200):
        if (await client.get("/_sim/stats")).json()["held_polls"] == 1:
            break
        await asyncio.sleep(0.01)
    assert (await client.get("/_sim/stats")).json()["held_polls"] == 1
    sim.inject_message(bot.bot_id, text="wake up")
    assert len((await poll)["msgs"]) == 1
    assert (await client.get("/_sim/stats")).json()["held_polls"] == 0


async def test_inject_a_batch(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot(sim.create_user("alice").user_id)
    body = {
        "messages": [
            {"bot_id": bot.bot_id, "from_user_id": "u1@im.wechat", "text": "one"},
            {"bot_id": bot.bot_id, "from_user_id": "u2@im.wechat", "text": "two"},
        ]
    }
    before = time.monotonic_ns()
    answer = (await client.control("/_sim/messages/batch", body)).json()["messages"]
    after = time.monotonic_ns()
    assert [m["from_user_id"] for m in answer] == ["u1@im.wechat", "u2@im.wechat"]
    assert answer[0]["seq"] < answer[1]["seq"]
    # CLOCK_MONOTONIC, shared by the processes of one machine: within this request, in order
    assert before <= answer[0]["injected_ns"] <= answer[1]["injected_ns"] <= after
    msgs = (await client.getupdates(bot.bot_token))["msgs"]
    assert [m["item_list"][0]["text_item"]["text"] for m in msgs] == ["one", "two"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"bot_id": "x"}] * 1001}, "messages"),
        ({"messages": [{"bot_id": "b@im.bot", "text": "a"}, {"text": "b"}]}, "messages[1].bot_id"),
        ({"messages": [{"bot_id": "b@im.bot", "nonsense": 1}]}, "messages[0].nonsense"),
        ({"messages": ["text"]}, "messages[0]"),
    ],
)
async def test_batch_errors_name_the_field(
    sim: Simulator, client: ILinkClient, body: dict[str, object], field: str
) -> None:
    bot = sim.create_bot(sim.create_user("alice").user_id, bot_id="b@im.bot")
    reply = await client.control("/_sim/messages/batch", body)
    assert reply.status == 400, reply.text
    assert reply.json()["field"] == field
    assert (await client.getupdates(bot.bot_token))["msgs"] == []  # nothing half-injected
