"""The push client: signing and encryption per mode, retries like WeChat, reply validation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.mp.push import Push
from weixin_gateway.mp.reply import Article, ImageReply, NewsReply, passive_reply
from weixin_gateway.mp.signature import msg_signature, url_signature
from weixin_gateway.mp.xml import parse_xml
from weixin_gateway.simulator.mp import NOTICE, OfficialAccountSimulator, PushSpec, messages

from .conftest import DEADLINE, Receiver

Serve = Callable[[Receiver], Any]


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_correct_receiver_gets_a_valid_reply_in_every_mode(
    wx: OfficialAccountSimulator, serve: Serve, mode: str
) -> None:
    app = wx.create_app(mode=mode)
    receiver = Receiver(app)
    url = await serve(receiver)
    result = await wx.push(
        app.appid, "oUser000000000000000000000001", messages.text("hi 你好 🎉 ]]>"), url=url
    )
    assert result.verdict == "reply", result.error
    assert result.reply is not None
    assert result.reply.fields["Content"] == "echo: hi 你好 🎉 ]]>"
    assert result.reply.encrypted is (mode != "plain")
    assert len(result.attempts) == 1
    query = receiver.hits[0].query
    assert query["signature"] == url_signature(app.token, query["timestamp"], query["nonce"])
    assert query["openid"] == "oUser000000000000000000000001"
    if mode == "plain":
        assert "encrypt_type" not in query
        assert "Encrypt" not in parse_xml(receiver.hits[0].body)
    else:
        outer = parse_xml(receiver.hits[0].body)
        assert query["encrypt_type"] == "aes"
        assert query["msg_signature"] == msg_signature(
            app.token, query["timestamp"], query["nonce"], str(outer["Encrypt"])
        )
        assert ("Content" in outer) is (mode == "compat")
        assert outer["ToUserName"] == app.gh_id
    push = receiver.pushes[0]
    assert push.msg_id == result.msg_id
    assert push.msg_id is not None
    assert push.msg_id > 2**53
    assert push.create_time == int(wx.now())
    transcript = wx.transcript(app.appid, "oUser000000000000000000000001")
    assert [e.source for e in transcript] == ["user", "passive_reply"]


@pytest.mark.parametrize("behaviour", ["success", "empty"])
async def test_no_reply_answers(wx: OfficialAccountSimulator, serve: Serve, behaviour: str) -> None:
    app = wx.create_app(mode="safe")
    url = await serve(Receiver(app, behaviour=behaviour))
    result = await wx.push(app.appid, "oU1", messages.text("hi"), url=url)
    assert result.verdict == "no_reply"
    assert result.delivered
    assert not result.notice
    assert len(result.attempts) == 1


async def test_slow_gateway_is_retried_with_the_same_body(
    wx: OfficialAccountSimulator, serve: Serve
) -> None:
    app = wx.create_app(mode="safe")
    receiver = Receiver(app, delays=[DEADLINE * 2, DEADLINE * 2])
    url = await serve(receiver)
    started = time.monotonic()
    result = await wx.push(app.appid, "oU1", messages.text("slow"), url=url)
    assert time.monotonic() - started >= 2 * DEADLINE
    assert result.verdict == "reply"
    assert [a.error for a in result.attempts] == ["timeout", "timeout", None]
    assert [a.status for a in result.attempts] == [None, None, 200]
    assert len({hit.body for hit in receiver.hits}) == 1  # same MsgId, CreateTime, ciphertext
    nonces = {hit.query["nonce"] for hit in receiver.hits}
    assert len(nonces) == 3  # re-signed by default


async def test_retries_can_reuse_the_query(wx: OfficialAccountSimulator, serve: Serve) -> None:
    app = wx.create_app()
    receiver = Receiver(app, delays=[DEADLINE * 2])
    url = await serve(receiver)
    result = await wx.push(app.appid, "oU1", messages.text("x"), url=url, resign=False)
    assert result.verdict == "reply"
    assert receiver.hits[0].query == receiver.hits[1].query


async def test_three_timeouts_fail_and_show_the_notice(
    wx: OfficialAccountSimulator, serve: Serve
) -> None:
    app = wx.create_app()
    receiver = Receiver(app, delays=[DEADLINE * 2] * 3)
    url = await serve(receiver)
    result = await wx.push(app.appid, "oU1", messages.text("x"), url=url)
    assert result.verdict == "failed"
    assert result.error == "timeout"
    assert len(result.attempts) == 3
    assert len(receiver.hits) == 3
    assert result.notice
    assert wx.transcript(app.appid, "oU1")[-1].content == {"Content": NOTICE}


async def test_http_500_is_retried_then_fails(wx: OfficialAccountSimulator, serve: Serve) -> None:
    app = wx.create_app()
    url = await serve(Receiver(app, behaviour="status500"))
    result = await wx.push(app.appid, "oU1", messages.text("x"), url=url, attempts=2)
    assert result.verdict == "failed"
    assert [a.error for a in result.attempts] == ["HTTP 500", "HTTP 500"]


async def test_connection_refused_is_a_failed_attempt(wx: OfficialAccountSimulator) -> None:
    app = wx.create_app()
    result = await wx.push(app.appid, "oU1", messages.text("x"), url="http://127.0.0.1:9/wx")
    assert result.verdict == "failed"
    assert all(a.error and a.error.startswith("connection error") for a in result.attempts)


async def test_overlapping_retry_while_the_first_is_in_flight(
    wx: OfficialAccountSimulator, serve: Serve
) -> None:
    app = wx.create_app()
    receiver = Receiver(app, delays=[0.25, 0.0])
    url = await serve(receiver)
    result = await wx.push(
        app.appid, "oU1", messages.text("x"), url=url, overlap_after_s=0.05, timeout_s=1.0
    )
    # the second attempt was sent while the first was still waiting; both got answers
    assert len(receiver.hits) == 2
    assert receiver.hits[1].at - receiver.hits[0].at < 0.2
    assert [a.status for a in result.attempts] == [200, 200]
    assert result.verdict == "reply"


@pytest.mark.parametrize(
    ("behaviour", "mode", "reason"),
    [
        ("malformed", "plain", "not well-formed"),
        ("json", "plain", "not well-formed"),
        ("wrong_to", "plain", "ToUserName"),
        ("plain_in_safe", "safe", "safe mode needs an encrypted reply"),
        ("wrong_appid", "safe", "another AppID"),
    ],
)
async def test_invalid_replies_are_reported_not_retried(
    wx: OfficialAccountSimulator, serve: Serve, behaviour: str, mode: str, reason: str
) -> None:
    app = wx.create_app(mode=mode)
    receiver = Receiver(app, behaviour=behaviour)
    url = await serve(receiver)
    result = await wx.push(app.appid, "oU1", messages.text("x"), url=url)
    assert result.verdict == "invalid"
    assert result.error is not None
    assert reason in result.error
    assert len(receiver.hits) == 1
    assert result.notice
    assert wx.transcript(app.appid, "oU1")[-1].source == "notice"


async def test_compat_mode_accepts_a_plain_reply(
    wx: OfficialAccountSimulator, serve: Serve
) -> None:
    app = wx.create_app(mode="compat")
    url = await serve(Receiver(app, behaviour="plain_in_safe"))
    result = await wx.push(app.appid, "oU1", messages.text("x"), url=url)
    assert result.verdict == "reply"
    assert result.reply is not None
    assert not result.reply.encrypted


async def test_bad_msg_signature_is_invalid(wx: OfficialAccountSimulator, serve: Serve) -> None:
    app = wx.create_app(mode="safe")
    receiver = Receiver(app, behaviour="custom")
    receiver.reply_body = (
        b"<xml><Encrypt><![CDATA[AAAA]]></Encrypt><MsgSignature><![CDATA[00]]></MsgSignature>"
        b"<TimeStamp>1</TimeStamp><Nonce><![CDATA[n]]></Nonce></xml>"
    )
    url = await serve(receiver)
    result = await wx.push(app.appid, "oU1", messages.text("x"), url=url)
    assert result.verdict == "invalid"
    assert result.error == "MsgSignature does not match the envelope"


def _news(count: int) -> Callable[[Push], str]:
    def build(push: Push) -> str:
        reply = NewsReply(tuple(Article(title=f"t{i}") for i in range(count)))
        # render without the push's own article limit, to test the simulator's
        return passive_reply(
            Push(push.to_user, push.from_user, push.create_time, "event", "CLICK", None, {}),
            reply,
            create_time=push.create_time,
        )

    return build


@pytest.mark.parametrize(
    ("spec", "articles", "verdict"),
    [
        (messages.text("x"), 1, "reply"),
        (messages.text("x"), 2, "invalid"),
        (messages.click("K"), 8, "reply"),
    ],
)
async def test_news_limits(
    wx: OfficialAccountSimulator, serve: Serve, spec: PushSpec, articles: int, verdict: str
) -> None:
    app = wx.create_app()
    url = await serve(Receiver(app, reply_factory=_news(articles)))
    result = await wx.push(app.appid, "oU1", spec, url=url)
    assert result.verdict == verdict, result.error


async def test_reply_media_must_exist_and_be_alive(
    wx: OfficialAccountSimulator, clock: FakeClock, serve: Serve
) -> None:
    app = wx.create_app()
    media = wx.add_media(app.appid, "image")
    receiver = Receiver(
        app,
        reply_factory=lambda push: passive_reply(
            push, ImageReply(media.media_id), create_time=push.create_time
        ),
    )
    url = await serve(receiver)
    assert (await wx.push(app.appid, "oU1", messages.text("x"), url=url)).verdict == "reply"
    clock.advance(3 * 86400 + 1)
    expired = await wx.push(app.appid, "oU1", messages.text("x"), url=url)
    assert expired.verdict == "invalid"
    assert expired.error is not None
    assert "unknown or expired" in expired.error


async def test_url_verification(wx: OfficialAccountSimulator, serve: Serve) -> None:
    app = wx.create_app(mode="safe")
    url = await serve(Receiver(app))
    good = await wx.verify_url(app.appid, url=url, echostr="5837397520665436492")
    assert good.ok
    assert good.body == "5837397520665436492"
    bad = await wx.verify_url(app.appid, url=url, bad_signature=True)
    assert not bad.ok
    assert bad.status == 500


ALL_SPECS: list[PushSpec] = [
    messages.text("t"),
    messages.text("from an article", msg_data_id=1, idx=1),
    messages.image(media_id="MEDIA_IMG"),
    messages.voice(media_id="MEDIA_VOICE"),
    messages.voice(media_id="MEDIA_VOICE2", recognition="你好"),
    messages.video(media_id="MEDIA_VIDEO", thumb_media_id="THUMB"),
    messages.shortvideo(media_id="MEDIA_SV", thumb_media_id="THUMB2"),
    messages.location(),
    messages.link("title", "desc", "https://example.com"),
    messages.file(),
    messages.unknown_message("made_up"),
    messages.subscribe(),
    messages.subscribe("invite42", ticket="TICKET"),
    messages.unsubscribe(),
    messages.scan("42", ticket="TICKET"),
    messages.location_report(),
    messages.click("MENU"),
    messages.view("https://example.com", menu_id=1),
    messages.view_miniprogram("pages/index"),
    messages.scancode("K", "result"),
    messages.scancode("K", "result", wait=True),
    messages.pic_event("pic_sysphoto", "K"),
    messages.pic_event("pic_photo_or_album", "K", ["a"]),
    messages.pic_event("pic_weixin", "K", ["a", "b", "c"]),
    messages.location_select("K"),
    messages.mass_send_job_finish(1000001, copyright_items=2),
    messages.template_send_job_finish(1000002, "failed:user block"),
    messages.subscribe_msg_popup([("T1", "accept")]),
    messages.subscribe_msg_popup([("T1", "accept"), ("T2", "reject")]),
    messages.subscribe_msg_change(["T1"]),
    messages.subscribe_msg_sent([("T1", 1000003)]),
    messages.kf_create_session("kf1@acc"),
    messages.kf_close_session("kf1@acc"),
    messages.kf_switch_session("kf1@acc", "kf2@acc"),
    messages.unknown_event("made_up_event", {"Foo": "bar"}),
]


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_every_message_and_event_type_reaches_the_gateway(
    wx: OfficialAccountSimulator, serve: Serve, mode: str
) -> None:
    app = wx.create_app(mode=mode)
    receiver = Receiver(app, behaviour="reply")
    url = await serve(receiver)
    for spec in ALL_SPECS:
        result = await wx.push(app.appid, "oU1", spec, url=url)
        assert result.verdict == "reply", (spec, result.error)
    kinds = [(p.msg_type, p.event) for p in receiver.pushes]
    assert kinds == [(s.msg_type, s.event) for s in ALL_SPECS]
    assert all(
        p.msg_id is None
        for p in receiver.pushes
        if p.event is not None and p.event not in ("MASSSENDJOBFINISH", "TEMPLATESENDJOBFINISH")
    )
    pics = next(p for p in receiver.pushes if p.event == "pic_weixin")
    info = pics.fields["SendPicsInfo"]
    assert isinstance(info, dict)
    assert info["Count"] == "3"
    popup = [p for p in receiver.pushes if p.event == "subscribe_msg_popup_event"][1]
    popup_info = popup.fields["SubscribeMsgPopupEvent"]
    assert isinstance(popup_info, dict)
    assert len(popup_info["List"]) == 2


async def test_duplicate_delivery_keeps_msgid_and_body(
    wx: OfficialAccountSimulator, serve: Serve
) -> None:
    app = wx.create_app(mode="safe")
    receiver = Receiver(app)
    url = await serve(receiver)
    results = await wx.push_duplicate(app.appid, "oU1", messages.text("dup"), url=url, times=3)
    assert len(results) == 3
    assert {r.msg_id for r in results} == {results[0].msg_id}
    assert len({hit.body for hit in receiver.hits}) == 1
    concurrent = await wx.push_duplicate(
        app.appid, "oU1", messages.text("dup2"), url=url, concurrent=True
    )
    assert [r.verdict for r in concurrent] == ["reply", "reply"]


async def test_msgid_collision_across_users(wx: OfficialAccountSimulator, serve: Serve) -> None:
    app = wx.create_app()
    receiver = Receiver(app)
    url = await serve(receiver)
    spec = messages.text("same id")
    first = await wx.push(app.appid, "oA", spec, url=url)
    second = await wx.push(
        app.appid, "oB", PushSpec("text", fields=spec.fields, msg_id=first.msg_id), url=url
    )
    assert first.msg_id == second.msg_id
    assert [p.from_user for p in receiver.pushes] == ["oA", "oB"]


async def test_encrypt_type_raw_knob(wx: OfficialAccountSimulator, serve: Serve) -> None:
    app = wx.create_app()
    receiver = Receiver(app)
    url = await serve(receiver)
    wx.configure(push_encrypt_type_raw=True)
    result = await wx.push(app.appid, "oU1", messages.text("raw"), url=url)
    assert receiver.hits[0].query["encrypt_type"] == "raw"
    assert result.verdict == "reply"


async def test_push_without_url_is_refused(wx: OfficialAccountSimulator) -> None:
    app = wx.create_app()
    with pytest.raises(Exception, match="push_url") as info:
        await wx.push(app.appid, "oU1", messages.text("x"))
    assert getattr(info.value, "field", None) == "url"
