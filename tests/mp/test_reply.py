"""§6.6 reply JSON → passive reply XML (§4.1, vector V4) and customer-service messages (§5.8)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring

from tests.mp import vectors as v
from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.errors import ReplyError
from weixin_gateway.mp.push import parse_push
from weixin_gateway.mp.reply import (
    Article,
    ImageReply,
    MusicReply,
    NewsReply,
    NoReply,
    TextReply,
    TransferReply,
    VideoReply,
    VoiceReply,
    custom_message,
    parse_reply,
    passive_reply,
    render_reply,
)
from weixin_gateway.mp.xml import parse_xml

USER, ACCOUNT, NOW = "oUser", "gh_abc", 1700000005
HEAD = {"ToUserName": USER, "FromUserName": ACCOUNT, "CreateTime": str(NOW)}


def render(reply: Any, **kwargs: Any) -> str:
    return render_reply(reply, to_user=USER, from_user=ACCOUNT, create_time=NOW, **kwargs)


# ------------------------------------------------------------------ go-wx-gateway's rules


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"type": "text", "msg": "hi"}, TextReply("hi")),
        ({"msg": "hi"}, TextReply("hi")),  # type missing -> text
        ({"type": "", "msg": "hi"}, TextReply("hi")),
        ({"type": None, "msg": "hi"}, TextReply("hi")),
        ({"type": "image", "msg": "m1"}, ImageReply("m1")),
        ({"type": "voice", "msg": "m2"}, VoiceReply("m2")),
        ({"type": "video", "msg": "m3"}, VideoReply("m3", "[no title]", "[no desc]")),
        ({"type": "video", "msg": "m3", "title": "T", "desc": "D"}, VideoReply("m3", "T", "D")),
        ({"type": "video", "msg": "m3", "title": ""}, VideoReply("m3", "", "[no desc]")),
        ({"type": "success", "msg": "x"}, NoReply()),
        ({"type": "text", "msg": ""}, NoReply()),
        ({"type": "image", "msg": ""}, NoReply()),
        ({"type": "success", "msg": ""}, NoReply()),
        ({"type": "text", "msg": "hi", "unknown": [1, 2]}, TextReply("hi")),
    ],
)
def test_go_wx_gateway_contract(answer: dict[str, Any], expected: Any) -> None:
    assert parse_reply(answer) == expected
    assert parse_reply(json.dumps(answer).encode()) == expected


@pytest.mark.parametrize(
    "answer",
    [
        b"not json",
        b"[]",
        b'"text"',
        b"",
        json.dumps({"type": "text"}).encode(),  # msg missing
        json.dumps({"type": "text", "msg": 5}).encode(),
        json.dumps({"type": 5, "msg": "x"}).encode(),
        json.dumps({"type": "video", "msg": "m", "title": 1}).encode(),
        json.dumps({"type": "emoji", "msg": "x"}).encode(),
        json.dumps({"type": "news", "msg": "x"}).encode(),
        json.dumps({"type": "news", "articles": []}).encode(),
        json.dumps({"type": "news", "articles": ["x"]}).encode(),
        json.dumps({"type": "music", "title": "t"}).encode(),
        json.dumps({"type": "music", "thumb_media_id": ""}).encode(),
    ],
)
def test_invalid_answers_are_reply_errors(answer: bytes) -> None:
    """The server turns these into ``success``, as go-wx-gateway did."""
    with pytest.raises(ReplyError):
        parse_reply(answer)


def test_reply_size_is_capped() -> None:
    with pytest.raises(ReplyError):
        parse_reply(json.dumps({"msg": "x" * 2000}).encode(), max_size=1000)


# ---------------------------------------------------------------------- extensions


def test_extensions() -> None:
    assert parse_reply(
        {
            "type": "news",
            "articles": [
                {"title": "T", "description": "D", "url": "http://u", "picurl": "http://p"},
                {"title": "T2"},
            ],
        }
    ) == NewsReply((Article("T", "D", "http://u", "http://p"), Article("T2")))
    assert parse_reply(
        {
            "type": "music",
            "title": "t",
            "desc": "d",
            "music_url": "http://m",
            "hq_music_url": "http://hq",
            "thumb_media_id": "th",
        }
    ) == MusicReply("th", "t", "d", "http://m", "http://hq")
    assert parse_reply({"type": "transfer_customer_service"}) == TransferReply()
    assert parse_reply({"type": "transfer_customer_service", "kf_account": "a@b"}) == (
        TransferReply("a@b")
    )
    assert parse_reply({"type": "video", "msg": "m", "thumb_media_id": "t"}) == VideoReply(
        "m", thumb_media_id="t"
    )


# ------------------------------------------------------------------------- rendering


def test_v4_text_reply_is_byte_exact() -> None:
    push = parse_push(parse_xml(v.V1_PLAINTEXT))
    body = passive_reply(push, TextReply(v.V4_CONTENT), create_time=v.V4_CREATE_TIME)
    assert body == v.V4_PLAINTEXT
    crypto = MsgCrypto(
        token=v.V1_TOKEN,
        encoding_aes_key=v.V1_KEY,
        app_id=v.V1_APPID,
        random=lambda n: v.V4_RANDOM,
    )
    sealed = parse_xml(crypto.seal(body, timestamp=v.V1_TIMESTAMP, nonce=v.V1_NONCE))
    assert sealed["MsgSignature"] == v.V4_MSG_SIGNATURE
    assert str(sealed["Encrypt"]).startswith(v.V4_ENCRYPT_PREFIX)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (TextReply("a\nb"), {"MsgType": "text", "Content": "a\nb"}),
        (ImageReply("m1"), {"MsgType": "image", "Image": {"MediaId": "m1"}}),
        (VoiceReply("m2"), {"MsgType": "voice", "Voice": {"MediaId": "m2"}}),
        (
            VideoReply("m3", "T", "D", "thumb"),
            {"MsgType": "video", "Video": {"MediaId": "m3", "Title": "T", "Description": "D"}},
        ),
        (
            MusicReply("th", "t", "d", "http://m", "http://hq"),
            {
                "MsgType": "music",
                "Music": {
                    "Title": "t",
                    "Description": "d",
                    "MusicUrl": "http://m",
                    "HQMusicUrl": "http://hq",
                    "ThumbMediaId": "th",
                },
            },
        ),
        (
            NewsReply((Article("T", "D", "http://u", "http://p"), Article("T2"))),
            {
                "MsgType": "news",
                "ArticleCount": "2",
                "Articles": {
                    "item": [
                        {"Title": "T", "Description": "D", "PicUrl": "http://p", "Url": "http://u"},
                        {"Title": "T2", "Description": "", "PicUrl": "", "Url": ""},
                    ]
                },
            },
        ),
        (TransferReply(), {"MsgType": "transfer_customer_service"}),
        (
            TransferReply("kf@acct"),
            {"MsgType": "transfer_customer_service", "TransInfo": {"KfAccount": "kf@acct"}},
        ),
    ],
)
def test_every_reply_type_renders_well_formed_xml(reply: Any, expected: dict[str, Any]) -> None:
    body = render(reply)
    fromstring(body.encode())
    assert parse_xml(body) == {**HEAD, **expected}
    assert body.startswith(
        f"<xml><ToUserName><![CDATA[{USER}]]></ToUserName>"
        f"<FromUserName><![CDATA[{ACCOUNT}]]></FromUserName><CreateTime>{NOW}</CreateTime>"
    )


def test_numbers_are_plain_text() -> None:
    body = render(NewsReply((Article("T"),)))
    assert "<ArticleCount>1</ArticleCount>" in body
    assert f"<CreateTime>{NOW}</CreateTime>" in body


def test_no_reply_is_success() -> None:
    assert render(NoReply()) == "success"
    push = parse_push(parse_xml(v.V1_PLAINTEXT))
    assert passive_reply(push, parse_reply({"type": "text", "msg": ""}), create_time=1) == "success"


@pytest.mark.parametrize(
    "text",
    ["]]>", "a]]>b]]>c", "<![CDATA[x]]>", "]]]]><![CDATA[>", "</Content></xml><xml>", "]]"],
)
def test_d3_cdata_terminator_in_any_field(text: str) -> None:
    """D3: a ``]]>`` in ``msg`` made go-wx-gateway emit malformed XML."""
    for reply, path in [
        (TextReply(text), ("Content",)),
        (VideoReply(text, text, text), ("Video", "Title")),
        (NewsReply((Article(text, text, text, text),)), ("Articles", "item", 0, "Title")),
    ]:
        body = render(reply)
        fromstring(body.encode())
        node: Any = parse_xml(body)
        for step in path:
            node = node[step]
        assert node == text


def test_news_article_limits() -> None:
    articles = tuple(Article(f"T{i}") for i in range(10))
    assert parse_xml(render(NewsReply(articles)))["ArticleCount"] == "8"
    # after a user message only one article is allowed
    push = parse_push(parse_xml(v.V1_PLAINTEXT))
    body = parse_xml(passive_reply(push, NewsReply(articles), create_time=1))
    assert body["ArticleCount"] == "1"
    assert body["Articles"] == {
        "item": [{"Title": "T0", "Description": "", "PicUrl": "", "Url": ""}]
    }


# ------------------------------------------------------------ customer-service messages


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (TextReply("hi"), {"msgtype": "text", "text": {"content": "hi"}}),
        (ImageReply("m1"), {"msgtype": "image", "image": {"media_id": "m1"}}),
        (VoiceReply("m2"), {"msgtype": "voice", "voice": {"media_id": "m2"}}),
        (
            VideoReply("m3", "T", "D"),
            {"msgtype": "video", "video": {"media_id": "m3", "title": "T", "description": "D"}},
        ),
        (
            VideoReply("m3", "T", "D", "th"),
            {
                "msgtype": "video",
                "video": {
                    "media_id": "m3",
                    "thumb_media_id": "th",
                    "title": "T",
                    "description": "D",
                },
            },
        ),
        (
            MusicReply("th", "t", "d", "http://m", "http://hq"),
            {
                "msgtype": "music",
                "music": {
                    "title": "t",
                    "description": "d",
                    "musicurl": "http://m",
                    "hqmusicurl": "http://hq",
                    "thumb_media_id": "th",
                },
            },
        ),
        (
            NewsReply((Article("T", "D", "http://u", "http://p"), Article("T2"))),
            {
                "msgtype": "news",
                "news": {
                    "articles": [
                        {"title": "T", "description": "D", "url": "http://u", "picurl": "http://p"}
                    ]
                },
            },
        ),
    ],
)
def test_custom_message_bodies(reply: Any, expected: dict[str, Any]) -> None:
    assert custom_message(reply, to_user=USER) == {"touser": USER, **expected}


def test_custom_message_with_agent_and_nothing_to_send() -> None:
    body = custom_message(TextReply("hi"), to_user=USER, kf_account="kf@acct")
    assert body is not None
    assert body["customservice"] == {"kf_account": "kf@acct"}
    assert custom_message(NoReply(), to_user=USER) is None
    assert custom_message(TransferReply(), to_user=USER) is None


def test_custom_message_keeps_text_verbatim() -> None:
    text = "]]><x/> & 你好 \n"
    body = custom_message(TextReply(text), to_user=USER)
    assert body == {"touser": USER, "msgtype": "text", "text": {"content": text}}
