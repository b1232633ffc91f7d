"""One regression test per go-wx-gateway defect that lives in the gateway layer
(official-account.md §6.13). D5 (secrets in the start-up log) is
``test_cli.py::test_mp_command_serves_with_a_redacted_startup_log``."""

from __future__ import annotations

import time

import aiohttp

from tests.mp_gateway.conftest import Sink, StartGateway, eventually, service_conf
from weixin_gateway.mp.signature import msg_signature, url_signature
from weixin_gateway.simulator.mp import OfficialAccountSimulator, messages


async def test_d1_click_is_forwarded_to_event_click_not_event_event(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    await wx.click_menu(app.appid, wx.add_user(app.appid).openid, "MENU_1")
    assert [r.path for r in sink.requests] == ["/event/CLICK"]
    assert sink.requests[0].json["EventKey"] == "MENU_1"


async def test_d2_video_messages_are_forwarded(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    user = wx.add_user(app.appid)
    await wx.push(app.appid, user.openid, messages.video(media_id="V", thumb_media_id="T"))
    assert [r.path for r in sink.requests] == ["/msg/video"]


async def test_d3_cdata_terminator_in_a_reply_stays_well_formed(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    sink.answers["/msg/text"] = {"type": "text", "msg": "x]]><evil/>y"}
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    result = await wx.user_says(app.appid, wx.add_user(app.appid).openid, "hi")
    assert result.verdict == "reply", result.error
    assert result.reply is not None
    assert result.reply.fields["Content"] == "x]]><evil/>y"
    assert "evil" not in result.reply.fields


async def test_d4_malformed_ciphertext_is_a_400_without_a_stack_trace(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url)])
    ts, nonce, encrypt = str(int(time.time())), "1", "AAAAAAAAAAAAAAAAAAAAAA=="
    query = {
        "signature": url_signature(app.token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": msg_signature(app.token, ts, nonce, encrypt),
    }
    body = f"<xml><ToUserName>{app.gh_id}</ToUserName><Encrypt>{encrypt}</Encrypt></xml>"
    async with (
        aiohttp.ClientSession() as session,
        session.post(gw.base_url + "/wx", params=query, data=body) as resp,
    ):
        assert resp.status == 400
        assert await resp.text() == "invalid encrypted message\n"
    assert sink.requests == []


async def test_d6_wechat_retries_are_not_forwarded_twice(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    sink.delay_s = 0.6
    await start_gateway([service_conf(app, proxy=sink.base_url)], **{"reply-budget-ms": 2000})
    user = wx.add_user(app.appid)
    result = await wx.push(app.appid, user.openid, messages.text("q"), timeout_s=0.25)
    assert len(result.attempts) >= 2  # WeChat did retry …
    assert len(sink.requests) == 1  # … and the upstream saw the message once


async def test_d6b_slow_upstream_still_reaches_the_user_by_customer_service_message(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    sink.answers["/msg/text"] = {"type": "text", "msg": "sorry for the wait"}
    sink.delay_s = 0.7
    # late replies are on by default
    await start_gateway([service_conf(app, proxy=sink.base_url)], **{"reply-budget-ms": 200})
    user = wx.add_user(app.appid)
    result = await wx.user_says(app.appid, user.openid, "q")
    assert result.verdict == "no_reply"
    await eventually(lambda: len(wx.custom_messages(app.appid)) == 1)
    (message,) = wx.custom_messages(app.appid)
    assert message.openid == user.openid
    assert message.body["text"] == {"content": "sorry for the wait"}


async def test_d7_unknown_events_and_types_are_forwarded(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="compat")
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    user = wx.add_user(app.appid)
    await wx.push(app.appid, user.openid, messages.unknown_event("future_event", {"X": "1"}))
    await wx.push(app.appid, user.openid, messages.location_select("K"))
    await wx.push(app.appid, user.openid, messages.unknown_message("hologram", {"Y": "2"}))
    assert [r.path for r in sink.requests] == [
        "/event/future_event",
        "/event/location_select",
        "/msg/hologram",
    ]
    assert sink.requests[0].json["X"] == "1"
    assert sink.requests[2].json["Y"] == "2"
