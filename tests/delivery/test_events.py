"""The upstream event: schema, the agent's text, raw wire message, content fingerprint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from weixin_gateway.delivery import (
    ATTACHMENTS_LABEL,
    Attachment,
    InboundMedia,
    build_event,
    content_fingerprint,
    message_text,
)
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.wire import PartialText, WeixinMessage
from weixin_gateway.simulator import (
    FaultPlan,
    ItemSpec,
    MediaSpec,
    QuoteSpec,
    SimBot,
    Simulator,
    TextSpec,
)

SCHEMA = [
    "type",
    "account_id",
    "event_id",
    "chat_id",
    "user_id",
    "text",
    "context_token",
    "chat_type",
    "attachments",
    "raw",
]
IMAGE = Attachment("image", "/data/inbound/weixin-inbound-1.png", "weixin-inbound-1.png",
                   "image/png", 2000)  # fmt: skip
FILE = Attachment("file", "/data/inbound/weixin-inbound-2-a.pdf", "weixin-inbound-2-a.pdf",
                  "application/pdf", 10)  # fmt: skip
FAILED = Attachment("video", "", "", "", 0, error="CDN answered HTTP 500")


async def receive(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    *items: ItemSpec,
    text: str | None = None,
    ref_msg: QuoteSpec | None = None,
    from_user_id: str | None = None,
) -> WeixinMessage:
    sim.inject_message(
        bot.bot_id, text=text, items=list(items), ref_msg=ref_msg, from_user_id=from_user_id
    )
    (msg,) = (await client.poll()).msgs
    return msg


# --- schema ---------------------------------------------------------------------------------


async def test_event_schema_and_key_order(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    injected = sim.inject_message(bot.bot_id, text="你好")
    (msg,) = (await client.poll()).msgs
    event = build_event(account_id="wx-account-1", event_id="evt-1", msg=msg, attachments=[])
    assert list(event) == SCHEMA
    assert event["type"] == "message"
    assert event["account_id"] == "wx-account-1"
    assert event["event_id"] == "evt-1"
    assert event["chat_id"] == event["user_id"] == bot.user_id == injected.from_user_id
    assert event["text"] == "你好"
    assert event["context_token"] == injected.context_token
    assert event["chat_type"] == "c2c"
    assert event["attachments"] == []
    raw = event["raw"]
    assert isinstance(raw, dict)
    assert raw["message_id"] == injected.message_id > 2**53
    assert raw["item_list"][0]["text_item"] == {"text": "你好"}
    assert json.loads(json.dumps(event, ensure_ascii=False)) == event  # JSON-able as it is


async def test_event_with_saved_attachments(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", size=2000))
    attachments = await InboundMedia(tmp_path, max_bytes=1 << 20).save_all(client, msg)
    event = build_event(account_id="a", event_id="e", msg=msg, attachments=attachments)
    [image] = attachments
    assert event["text"] == f"{ATTACHMENTS_LABEL}\n- image: {image.path}"
    assert event["attachments"] == [
        {
            "kind": "image",
            "path": image.path,
            "filename": image.filename,
            "mime_type": "image/png",
            "size": 2000,
        }
    ]


def test_text_override_and_missing_fields() -> None:
    msg = WeixinMessage.model_validate({"item_list": [{"type": 1, "text_item": {"text": "x"}}]})
    event = build_event(account_id="a", event_id="e", msg=msg, attachments=[], text="custom")
    assert event["text"] == "custom"
    assert event["user_id"] == event["chat_id"] == ""
    assert event["context_token"] == ""


def test_raw_keeps_unknown_fields_and_exact_uint64() -> None:
    wire = (
        '{"seq":3,"message_id":18446744073709551615,"from_user_id":"u@im.wechat",'
        '"future_field":{"nested":[1,2]},"item_list":[{"type":1,"msg_id":"9007199254740993",'
        '"text_item":{"text":"hi","style":"bold"},"new_item_field":"y"}],'
        '"context_token":"ctx-1"}'
    )
    msg = WeixinMessage.model_validate_json(wire)
    event = build_event(account_id="a", event_id="e", msg=msg, attachments=[])
    raw = event["raw"]
    assert isinstance(raw, dict)
    assert raw["message_id"] == 18446744073709551615
    assert raw["future_field"] == {"nested": [1, 2]}
    item = raw["item_list"][0]
    assert item["msg_id"] == 9007199254740993
    assert item["new_item_field"] == "y"
    assert item["text_item"] == {"text": "hi", "style": "bold"}
    body = json.dumps(event)
    assert '"message_id": 18446744073709551615' in body
    assert '"msg_id": 9007199254740993' in body


# --- attachments ----------------------------------------------------------------------------


def test_attachment_json_round_trip() -> None:
    assert IMAGE.to_json() == {
        "kind": "image",
        "path": "/data/inbound/weixin-inbound-1.png",
        "filename": "weixin-inbound-1.png",
        "mime_type": "image/png",
        "size": 2000,
    }
    assert FAILED.to_json()["error"] == "CDN answered HTTP 500"
    assert "wav_path" not in FAILED.to_json()
    voice = Attachment("voice", "/d/v.silk", "v.silk", "audio/silk", 9, wav_path="/d/v.wav")
    assert voice.to_json()["wav_path"] == "/d/v.wav"
    assert "error" not in voice.to_json()
    for attachment in (IMAGE, FILE, FAILED, voice):
        assert Attachment.from_json(attachment.to_json()) == attachment
        assert Attachment.from_json(json.loads(json.dumps(attachment.to_json()))) == attachment
    assert FAILED.ok is False
    assert IMAGE.ok is True


def test_attachment_from_json_is_lenient_but_checks_kind() -> None:
    sparse = Attachment.from_json({"kind": "file", "path": "/p"})
    assert sparse == Attachment("file", "/p", "", "", 0)
    assert Attachment.from_json({"kind": "image", "size": "12"}).size == 12
    assert Attachment.from_json({"kind": "image", "size": -1}).size == 0
    with pytest.raises(ValueError, match="kind"):
        Attachment.from_json({"kind": "sticker"})


# --- text -----------------------------------------------------------------------------------


async def test_text_items_are_joined(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    msg = await receive(sim, bot, client, TextSpec("second"), TextSpec("third"), text="first")
    assert message_text(msg, []) == "first\nsecond\nthird"


async def test_voice_transcript_counts_as_text(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("voice", size=500, transcript="明天开会"))
    assert message_text(msg, []) == "明天开会"
    voice = Attachment("voice", "/d/v.silk", "v.silk", "audio/silk", 500)
    assert message_text(msg, [voice]) == f"明天开会\n\n{ATTACHMENTS_LABEL}\n- voice: /d/v.silk"


async def test_media_only_message_is_the_label_alone(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", size=100), MediaSpec("file", size=9))
    assert message_text(msg, [IMAGE, FILE]) == (
        "用户发送了以下附件:\n"
        "- image: /data/inbound/weixin-inbound-1.png\n"
        "- file: /data/inbound/weixin-inbound-2-a.pdf"
    )


async def test_text_and_attachments(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", size=100), text="看看这个")
    assert message_text(msg, [IMAGE]) == (
        "看看这个\n\n用户发送了以下附件:\n- image: /data/inbound/weixin-inbound-1.png"
    )


def test_failed_download_label() -> None:
    msg = WeixinMessage.model_validate({"item_list": [{"type": 5, "video_item": {}}]})
    assert message_text(msg, [FAILED, IMAGE]) == (
        "用户发送了以下附件:\n"
        "- video: (下载失败: CDN answered HTTP 500)\n"
        "- image: /data/inbound/weixin-inbound-1.png"
    )


def test_message_without_text_or_attachments_is_empty() -> None:
    msg = WeixinMessage.model_validate({"item_list": [{"type": 11, "tool_call_start_item": {}}]})
    assert message_text(msg, []) == ""
    assert message_text(WeixinMessage(), []) == ""


# --- quotes ---------------------------------------------------------------------------------


async def test_quote_prefix(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    msg = await receive(sim, bot, client, text="什么意思?", ref_msg=QuoteSpec(text="earlier\nline"))
    assert message_text(msg, []) == "[引用: earlier line]\n什么意思?"


async def test_quote_with_partial_text(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    quote = QuoteSpec(
        text="alpha beta gamma delta",
        partial_text=PartialText(start="beta", end="gamma", startindex=0, endindex=0),
    )
    msg = await receive(sim, bot, client, text="this part", ref_msg=quote)
    assert message_text(msg, []) == "[引用: beta gamma]\nthis part"


async def test_quote_of_media_and_by_id(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    media_quote = QuoteSpec(item=MediaSpec("image", size=100))
    msg = await receive(sim, bot, client, text="这是什么?", ref_msg=media_quote)
    assert message_text(msg, []) == "[引用: [图片]]\n这是什么?"
    by_id = QuoteSpec(svr_id=7439127366421238785)
    msg = await receive(sim, bot, client, text="and this?", ref_msg=by_id)
    assert message_text(msg, []) == "[引用]\nand this?"
    titled = QuoteSpec(svr_id=7439127366421238785, title="the title")
    msg = await receive(sim, bot, client, text="ok", ref_msg=titled)
    assert message_text(msg, [IMAGE]) == (
        "[引用: the title]\nok\n\n用户发送了以下附件:\n- image: /data/inbound/weixin-inbound-1.png"
    )


async def test_long_quote_is_cut(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    msg = await receive(sim, bot, client, text="?", ref_msg=QuoteSpec(text="长" * 500))
    first_line = message_text(msg, []).split("\n")[0]
    assert first_line == "[引用: " + "长" * 199 + "…]"


# --- fingerprint ----------------------------------------------------------------------------


async def test_redelivery_under_new_message_id_has_the_same_fingerprint(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    injected = sim.inject_message(
        bot.bot_id, text="ping", items=[MediaSpec("file", size=50, file_name="a.txt")]
    )
    (first,) = (await client.poll()).msgs
    sim.add_fault(FaultPlan("duplicate", bot_id=bot.bot_id, message_id=injected.message_id))
    again: list[WeixinMessage] = []
    async with asyncio.timeout(10):
        while not again:
            again = (await client.poll()).msgs
    (second,) = again
    assert second.message_id != first.message_id
    assert second.seq != first.seq
    assert content_fingerprint(second) == content_fingerprint(first)
    fingerprint = content_fingerprint(first)
    assert len(fingerprint) == 32
    assert int(fingerprint, 16) >= 0


def _text_message(text: str, sender: str = "u@im.wechat", **fields: object) -> WeixinMessage:
    return WeixinMessage.model_validate(
        {
            "from_user_id": sender,
            "item_list": [{"type": 1, "text_item": {"text": text}}],
            **fields,
        }
    )


def test_fingerprint_ignores_ids_times_and_token() -> None:
    base = _text_message("hi", message_id=1, create_time_ms=1000, context_token="a", seq=1)
    other = _text_message("hi", message_id=2, create_time_ms=9999, context_token="b", seq=7)
    assert content_fingerprint(base) == content_fingerprint(other)


def test_fingerprint_differs_for_text_and_sender() -> None:
    base = content_fingerprint(_text_message("hi"))
    assert content_fingerprint(_text_message("hi!")) != base
    assert content_fingerprint(_text_message("hi", sender="v@im.wechat")) != base


async def test_fingerprint_differs_for_different_media(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    one = await receive(sim, bot, client, MediaSpec("image", size=100))
    two = await receive(sim, bot, client, MediaSpec("image", size=100))  # same bytes, new upload
    other_user = sim.create_user("bob").user_id
    three = await receive(sim, bot, client, text="x", from_user_id=other_user)
    four = await receive(sim, bot, client, text="x")
    assert content_fingerprint(one) != content_fingerprint(two)
    assert content_fingerprint(three) != content_fingerprint(four)
