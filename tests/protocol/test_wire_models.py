"""Wire models: exact big integers, unknown fields kept, bodies byte-identical to 2.4.9's."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from weixin_gateway.errors import ApiError, SendRejectedError, SessionExpiredError
from weixin_gateway.ilink.envelope import raise_for_envelope
from weixin_gateway.ilink.wire import (
    BaseInfo,
    CDNMedia,
    GetUpdatesResponse,
    GetUploadUrlRequest,
    ImageItem,
    MessageItem,
    SendMessageRequest,
    TextItem,
    WeixinMessage,
    dumps_wire,
)

USER = "o9cq800kum_AbCdEfGhIjKlMnOpQrStUvWx@im.wechat"
CTX = "AARzJWAFAAABAAAAAAApZ0x5bW9ja2VkLWNvbnRleHQtdG9rZW4="
BASE = BaseInfo(channel_version="2.4.9", bot_agent="OpenClaw")

# ilink-vectors.md §5.3, the exact body the fake server served to 2.4.9
TEXT_UPDATE = (
    '{"ret":0,"msgs":[{"seq":101,"message_id":7439127366421238785,"from_user_id":"' + USER + '",'
    '"to_user_id":"e06c1ceea05e@im.bot","client_id":"","create_time_ms":1763780401123,'
    '"update_time_ms":1763780401123,"session_id":"","group_id":"","message_type":1,'
    '"message_state":2,"item_list":[{"type":1,"create_time_ms":1763780401123,'
    '"msg_id":7439127366421238785,"text_item":{"text":"hi bot"}}],"context_token":"' + CTX + '"}],'
    '"get_updates_buf":"CgQIARBkEgYIhQEQZQ==","longpolling_timeout_ms":35000}'
)


def test_big_ids_stay_exact_from_json_text() -> None:
    resp = GetUpdatesResponse.model_validate_json(TEXT_UPDATE)
    assert resp.msgs is not None
    msg = resp.msgs[0]
    assert msg.message_id == 7439127366421238785
    assert msg.item_list is not None
    assert msg.item_list[0].msg_id == 7439127366421238785
    assert msg.text == "hi bot"
    assert json.loads(dumps_wire(msg))["message_id"] == 7439127366421238785
    assert b'"message_id":7439127366421238785' in dumps_wire(msg)


def test_big_ids_accepted_as_strings_and_above_int64() -> None:
    msg = WeixinMessage.model_validate(
        {"message_id": "7439127366421238785", "item_list": [{"msg_id": 18446744073709551615}]}
    )
    assert msg.message_id == 7439127366421238785
    assert msg.item_list is not None
    assert msg.item_list[0].msg_id == 2**64 - 1
    with pytest.raises(ValidationError):
        WeixinMessage.model_validate({"message_id": 7.439127366421239e18})


def test_message_id_falls_back_to_first_item_msg_id() -> None:
    msg = WeixinMessage.model_validate({"item_list": [{"type": 1, "msg_id": "42"}]})
    assert msg.id == 42


def test_unknown_fields_survive_a_round_trip() -> None:
    raw = {"seq": 1, "future_field": {"x": [1, 2]}, "item_list": [{"type": 99, "new_item": {}}]}
    msg = WeixinMessage.model_validate(raw)
    assert json.loads(dumps_wire(msg)) == raw


def test_text_send_body_is_byte_identical_to_the_recording() -> None:
    """ilink-vectors.md §7.1."""
    text = "**Sure!** Here is *the* answer:\nSmall heading\n\n这是中文斜体。"
    msg = WeixinMessage(
        from_user_id="",
        to_user_id=USER,
        client_id="openclaw-weixin:1795317871523-4d214df2",
        message_type=2,
        message_state=2,
        item_list=[MessageItem(type=1, text_item=TextItem(text=text))],
        context_token=CTX,
        run_id="0b5c9a7e-3f6d-4c1a-9e2b-7d8f1a2b3c4d",
    )
    expected = (
        '{"msg":{"from_user_id":"","to_user_id":"' + USER + '","client_id":'
        '"openclaw-weixin:1795317871523-4d214df2","message_type":2,"message_state":2,'
        '"item_list":[{"type":1,"text_item":{"text":"' + text.replace("\n", "\\n") + '"}}],'
        '"context_token":"' + CTX + '","run_id":"0b5c9a7e-3f6d-4c1a-9e2b-7d8f1a2b3c4d"},'
        '"base_info":{"channel_version":"2.4.9","bot_agent":"OpenClaw"}}'
    )
    assert dumps_wire(SendMessageRequest(msg=msg, base_info=BASE)).decode() == expected


def test_upload_url_and_image_bodies_match_the_recording() -> None:
    """ilink-vectors.md §8.1 steps 1 and 4."""
    req = GetUploadUrlRequest(
        filekey="dd6d16d2334f45bd253a774e7b58197a",
        media_type=1,
        to_user_id=USER,
        rawsize=100,
        rawfilemd5="6d41ac6d0d47f84891e52c497ed5df93",
        filesize=112,
        aeskey="eb3d6b9752ee6190fb7bc1f8fb97e98e",
        base_info=BASE,
    )
    assert dumps_wire(req).decode() == (
        '{"filekey":"dd6d16d2334f45bd253a774e7b58197a","media_type":1,"to_user_id":"' + USER + '",'
        '"rawsize":100,"rawfilemd5":"6d41ac6d0d47f84891e52c497ed5df93","filesize":112,'
        '"no_need_thumb":true,"aeskey":"eb3d6b9752ee6190fb7bc1f8fb97e98e",'
        '"base_info":{"channel_version":"2.4.9","bot_agent":"OpenClaw"}}'
    )
    item = MessageItem(
        type=2,
        image_item=ImageItem(
            media=CDNMedia(
                encrypt_query_param="DOWNLOADPARAM-dd6d16d2334f45bd253a774e7b58197a",
                aes_key="ZWIzZDZiOTc1MmVlNjE5MGZiN2JjMWY4ZmI5N2U5OGU=",
                encrypt_type=1,
            ),
            mid_size=112,
        ),
    )
    assert dumps_wire(item).decode() == (
        '{"type":2,"image_item":{"media":{"encrypt_query_param":'
        '"DOWNLOADPARAM-dd6d16d2334f45bd253a774e7b58197a","aes_key":'
        '"ZWIzZDZiOTc1MmVlNjE5MGZiN2JjMWY4ZmI5N2U5OGU=","encrypt_type":1},"mid_size":112}}'
    )


def test_secrets_do_not_appear_in_repr() -> None:
    media = CDNMedia(aes_key="ABEiM0RVZneImaq7zN3u/w==")
    assert "ABEiM0" not in repr(media)
    msg = WeixinMessage(context_token=CTX)
    assert CTX not in repr(msg)


@pytest.mark.parametrize(
    ("endpoint", "body", "error"),
    [
        (
            "getupdates",
            {"ret": -14, "errcode": -14, "errmsg": "session timeout"},
            SessionExpiredError,
        ),
        ("getupdates", {"ret": 0, "errcode": -14}, SessionExpiredError),
        ("getupdates", {"errcode": -14}, SessionExpiredError),
        ("sendmessage", {"ret": -2, "errmsg": "prepare failed"}, SendRejectedError),
        ("sendmessage", {"ret": 5}, ApiError),
        ("getupdates", {"ret": -2}, ApiError),
        ("getconfig", {"ret": "-1"}, ApiError),
    ],
)
def test_envelope_errors(endpoint: str, body: dict[str, object], error: type[ApiError]) -> None:
    with pytest.raises(error) as info:
        raise_for_envelope(endpoint, body)
    assert type(info.value) is error
    assert info.value.endpoint == endpoint


@pytest.mark.parametrize("body", [{}, {"ret": 0}, {"ret": 0, "errcode": 0, "errmsg": ""}])
def test_envelope_success(body: dict[str, object]) -> None:
    raise_for_envelope("getupdates", body)


def test_send_rejected_names_the_likely_causes() -> None:
    with pytest.raises(SendRejectedError) as info:
        raise_for_envelope("sendmessage", {"ret": -2, "errmsg": ""})
    text = str(info.value)
    assert "24 h" in text
    assert "context_token" in text
    assert "10 messages" in text
