"""Upstream answers become valid passive replies (§4.1, §6.6), validated by the simulator's push
client as WeChat would (decrypted and signature-checked in safe and compat mode)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mp_gateway.conftest import Sink, StartGateway, service_conf
from weixin_gateway.simulator.mp import OfficialAccountSimulator, messages

NASTY = "a ]]> b <c> & d ]]]]> 你好 🎉 \x01 end"


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_every_reply_type_is_a_valid_passive_reply(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway, mode: str
) -> None:
    app = wx.create_app(mode=mode)
    for media_id, kind in (("IMG", "image"), ("VOI", "voice"), ("VID", "video"), ("TH", "thumb")):
        wx.add_media(app.appid, kind, media_id=media_id)
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    user = wx.add_user(app.appid)

    articles = [
        {"title": f"t{i}", "description": "d", "url": f"http://a/{i}", "picurl": "http://p"}
        for i in range(10)
    ]
    cases: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
        ({"type": "text", "msg": NASTY}, "text", {"Content": "a ]]> b <c> & d ]]]]> 你好 🎉  end"}),
        ({"msg": "no type means text"}, "text", {"Content": "no type means text"}),
        ({"type": "image", "msg": "IMG"}, "image", {"Image": {"MediaId": "IMG"}}),
        ({"type": "voice", "msg": "VOI"}, "voice", {"Voice": {"MediaId": "VOI"}}),
        (
            {"type": "video", "msg": "VID"},
            "video",
            {"Video": {"MediaId": "VID", "Title": "[no title]", "Description": "[no desc]"}},
        ),
        (
            {"type": "music", "title": "song", "music_url": "http://m", "thumb_media_id": "TH"},
            "music",
            {
                "Music": {
                    "Title": "song",
                    "Description": "",
                    "MusicUrl": "http://m",
                    "HQMusicUrl": "",
                    "ThumbMediaId": "TH",
                }
            },
        ),
        (
            {"type": "transfer_customer_service", "kf_account": "kf@acc"},
            "transfer_customer_service",
            {"TransInfo": {"KfAccount": "kf@acc"}},
        ),
    ]
    for answer, msg_type, fields in cases:
        sink.answers["/msg/text"] = answer
        result = await wx.push(app.appid, user.openid, messages.text("hi"))
        assert result.verdict == "reply", (answer, result.error)
        assert result.reply is not None
        assert result.reply.msg_type == msg_type
        assert result.reply.encrypted is (mode != "plain")
        assert result.reply.fields["ToUserName"] == user.openid
        assert result.reply.fields["FromUserName"] == app.gh_id
        for key, value in fields.items():
            assert result.reply.fields[key] == value, (answer, key)

    # news: 1 article after a user message, up to 8 after an event (§4.1)
    sink.answers["/msg/text"] = {"type": "news", "articles": articles}
    sink.answers["/event/CLICK"] = {"type": "news", "articles": articles}
    result = await wx.push(app.appid, user.openid, messages.text("news please"))
    assert result.verdict == "reply"
    assert result.reply is not None
    assert result.reply.fields["ArticleCount"] == "1"
    result = await wx.push(app.appid, user.openid, messages.click("NEWS"))
    assert result.verdict == "reply"
    assert result.reply is not None
    assert result.reply.fields["ArticleCount"] == "8"

    # the no-reply answers: plaintext success in every mode (D25)
    for answer in (
        {"type": "success", "msg": "success"},
        {"type": "text", "msg": ""},
        {"type": "news"},  # malformed extension
        {"type": "teleport", "msg": "x"},  # unknown type
        b"<html>not json</html>",
        b"",
        (500, b"Internal Server Error"),
    ):
        sink.answers["/msg/text"] = answer  # type: ignore[assignment]
        result = await wx.push(app.appid, user.openid, messages.text("hi"))
        assert result.verdict == "no_reply", (answer, result.error)
        assert result.attempts[-1].body == "success"


async def test_upstream_status_is_ignored_when_the_body_is_a_reply(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    sink.answers["/msg/text"] = (500, {"type": "text", "msg": "still used"})
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    user = wx.add_user(app.appid)
    result = await wx.push(app.appid, user.openid, messages.text("hi"))
    assert result.verdict == "reply"
    assert result.reply is not None
    assert result.reply.fields["Content"] == "still used"


async def test_upstream_down_answers_success(
    wx: OfficialAccountSimulator, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    await start_gateway([service_conf(app, proxy="http://127.0.0.1:9")])  # discard port
    user = wx.add_user(app.appid)
    result = await wx.push(app.appid, user.openid, messages.text("hi"))
    assert result.verdict == "no_reply"
    assert len(result.attempts) == 1


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_echo_mode_without_msg_proxy_pass(
    wx: OfficialAccountSimulator, start_gateway: StartGateway, mode: str
) -> None:
    app = wx.create_app(mode=mode)
    await start_gateway([service_conf(app, proxy="")])
    user = wx.add_user(app.appid)

    result = await wx.push(app.appid, user.openid, messages.text("echo me ]]>"))
    assert result.reply is not None
    assert result.reply.fields["Content"] == "echo me ]]>"
    result = await wx.push(app.appid, user.openid, messages.click("KEY1"))
    assert result.reply is not None
    assert result.reply.fields["Content"] == "event key KEY1 clicked"
    result = await wx.push(app.appid, user.openid, messages.image(media_id="M1", data=b"jpg"))
    assert result.reply is not None
    assert result.reply.fields["Image"] == {"MediaId": "M1"}
    result = await wx.push(app.appid, user.openid, messages.link("Doc", "d", "http://x"))
    assert result.reply is not None
    assert result.reply.fields["Content"] == "your link Doc received"
    result = await wx.push(app.appid, user.openid, messages.scancode("K", "R", wait=True))
    assert result.reply is not None
    assert result.reply.fields["Content"] == "scan result: qrcode, R"
    result = await wx.push(app.appid, user.openid, messages.location())
    assert result.verdict == "no_reply"
    result = await wx.follow(app.appid)
    assert result.reply is not None
    assert result.reply.fields["Content"] == "welcome"
