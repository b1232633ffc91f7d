"""Every message and event type, in every crypto mode, reaches the right upstream path with
go-wx-gateway's JSON (official-account.md §6.4, §6.5), including the types it dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.mp_gateway.conftest import Sink, StartGateway, service_conf
from weixin_gateway.simulator.mp import OfficialAccountSimulator, PushSpec, messages

Check = Callable[[dict[str, Any]], None]


def _fields(**expected: Any) -> Check:
    def check(body: dict[str, Any]) -> None:
        for key, value in expected.items():
            assert body.get(key) == value, f"{key}: {body.get(key)!r} != {value!r}"

    return check


def _pics(body: dict[str, Any]) -> None:
    assert body["Count"] == 2
    assert body["PicList"] == ["m1", "m2"]
    assert "SendPicsInfo" not in body


def _mass(body: dict[str, Any]) -> None:
    assert body["TotalCount"] == 100
    assert body["SentCount"] == 75
    assert body["ResultCount"] == 1
    assert len(body["ResultList"]) == 1
    assert body["CheckState"] == "2"
    assert body["ArticleUrlResult"]


def _popup(body: dict[str, Any]) -> None:
    entries = body["SubscribeMsgPopupEvent"]["List"]
    assert [e["TemplateId"] for e in entries] == ["t1", "t2"]


def _change(body: dict[str, Any]) -> None:
    assert body["SubscribeMsgChangeEvent"]["List"][0]["TemplateId"] == "t1"


def _sent(body: dict[str, Any]) -> None:
    assert body["SubscribeMsgSentEvent"]["List"][0]["MsgID"] == "9"


CASES: list[tuple[PushSpec, str, Check]] = [
    (messages.text("hello 你好"), "/msg/text", _fields(Content="hello 你好")),
    (
        messages.image(media_id="IMG1", pic_url="http://p/1"),
        "/msg/image",
        _fields(MediaId="IMG1", PicUrl="http://p/1"),
    ),
    (
        messages.voice(media_id="V1", recognition="你好"),
        "/msg/voice",
        _fields(MediaId="V1", Format="amr", Recognition="你好"),
    ),
    (  # go-wx-gateway dropped video (D2)
        messages.video(media_id="VID", thumb_media_id="TH"),
        "/msg/video",
        _fields(MediaId="VID", ThumbMediaId="TH"),
    ),
    (
        messages.shortvideo(media_id="SV", thumb_media_id="TH2"),
        "/msg/shortvideo",
        _fields(MediaId="SV", ThumbMediaId="TH2"),
    ),
    (
        messages.location(23.5, 113.25, scale=16, label="here"),
        "/msg/location",
        _fields(Location_X="23.5", Location_Y="113.25", Scale=16, Label="here"),
    ),
    (
        messages.link("T", "D", "http://u"),
        "/msg/link",
        _fields(Title="T", Description="D", Url="http://u"),
    ),
    (messages.file("a.pdf"), "/msg/file", _fields(Title="a.pdf")),  # not an OA type (D7)
    (messages.subscribe(), "/event/subscribe", _fields(Event="subscribe", EventKey="")),
    (
        messages.subscribe("invite", ticket="TK"),
        "/event/subscribe",
        _fields(EventKey="qrscene_invite", Ticket="TK"),
    ),
    (messages.unsubscribe(), "/event/unsubscribe", _fields(Event="unsubscribe")),
    (messages.scan(42, ticket="TK"), "/event/SCAN", _fields(EventKey="42", Ticket="TK")),
    (
        messages.location_report(23.1, 113.2, 30.5),
        "/event/LOCATION",
        _fields(Latitude="23.1", Longitude="113.2", Precision="30.5"),
    ),
    (messages.click("MENU_A"), "/event/CLICK", _fields(Event="CLICK", EventKey="MENU_A")),  # D1
    (
        messages.view("http://v", menu_id=7),
        "/event/VIEW",
        _fields(EventKey="http://v", MenuId="7"),
    ),
    (
        messages.view_miniprogram("pages/a"),
        "/event/view_miniprogram",
        _fields(EventKey="pages/a"),
    ),
    (
        messages.scancode("K", "R1"),
        "/event/scancode_push",
        _fields(EventKey="K", ScanType="qrcode", ScanResult="R1"),
    ),
    (
        messages.scancode("K", "R2", wait=True),
        "/event/scancode_waitmsg",
        _fields(ScanResult="R2"),
    ),
    (messages.pic_event("pic_sysphoto", "P", ["m1", "m2"]), "/event/pic_sysphoto", _pics),
    (
        messages.pic_event("pic_photo_or_album", "P", ["m1", "m2"]),
        "/event/pic_photo_or_album",
        _pics,
    ),
    (messages.pic_event("pic_weixin", "P", ["m1", "m2"]), "/event/pic_weixin", _pics),
    (
        messages.location_select("L", 23.0, 113.0, scale=15, label="lab", poiname="poi"),
        "/event/location_select",
        _fields(EventKey="L", Location_X="23.0", Scale=15, Label="lab", Poiname="poi"),
    ),
    (messages.mass_send_job_finish(1001), "/event/MASSSENDJOBFINISH", _mass),
    (
        messages.template_send_job_finish(2002, "failed:user block"),
        "/event/TEMPLATESENDJOBFINISH",
        _fields(MsgId="2002", Status="failed:user block"),
    ),
    (
        messages.subscribe_msg_popup([("t1", "accept"), ("t2", "reject")]),
        "/event/subscribe_msg_popup_event",
        _popup,
    ),
    (
        messages.subscribe_msg_change(["t1"]),
        "/event/subscribe_msg_change_event",
        _change,
    ),
    (
        messages.subscribe_msg_sent([("t1", 9)]),
        "/event/subscribe_msg_sent_event",
        _sent,
    ),
    (messages.kf_create_session("kf1@x"), "/event/kf_create_session", _fields(KfAccount="kf1@x")),
    (messages.kf_close_session("kf1@x"), "/event/kf_close_session", _fields(KfAccount="kf1@x")),
    (
        messages.kf_switch_session("a@x", "b@x"),
        "/event/kf_switch_session",
        _fields(FromKfAccount="a@x", ToKfAccount="b@x"),
    ),
    (  # an event nobody has heard of yet (D7)
        messages.unknown_event("brand_new_event", {"Foo": "bar"}),
        "/event/brand_new_event",
        _fields(Foo="bar"),
    ),
]


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
async def test_every_type_reaches_its_path_in_every_mode(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway, mode: str
) -> None:
    app = wx.create_app(mode=mode)
    await start_gateway([service_conf(app, proxy=sink.base_url + "/hook")])
    user = wx.add_user(app.appid)
    for spec, path, check in CASES:
        sink.requests.clear()
        result = await wx.push(app.appid, user.openid, spec)
        label = f"{spec.msg_type}/{spec.event}"
        assert result.verdict == "no_reply", (label, result.error)
        assert [r.path for r in sink.requests] == ["/hook" + path], label
        request = sink.requests[0]
        assert request.method == "POST"
        assert request.headers["Content-Type"].startswith("application/json")
        body = request.json
        assert body["ToUserName"] == app.gh_id, label
        assert body["FromUserName"] == user.openid, label
        assert isinstance(body["CreateTime"], int), label
        assert body["MsgType"] == spec.msg_type, label
        if spec.event is None:
            assert isinstance(body["MsgId"], str), label
            assert body["MsgId"].isdigit(), label
        else:
            assert body["Event"] == spec.event, label
        assert "userInfo" in body, label
        assert "userInfoError" in body, label
        check(body)


async def test_user_info_is_appended_with_go_wx_gateway_keys_first(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    user = wx.add_user(app.appid, nickname="Ann")
    await wx.push(app.appid, user.openid, messages.text("hi"))
    info = sink.requests[0].json["userInfo"]
    assert list(info)[:9] == [
        "openid",
        "nickname",
        "sex",
        "province",
        "city",
        "country",
        "headimgurl",
        "privilege",
        "unionid",
    ]
    assert info["openid"] == user.openid
    assert isinstance(info["sex"], int)
    assert info["subscribe"] == 1  # kept, go-wx-gateway dropped it (D29)
    assert sink.requests[0].json["userInfoError"] == ""

    # user/info failing: null plus WeChat's errmsg, never a URL or token (D13, D14)
    wx.update_app(app.appid, secret="changed-secret-so-tokens-fail")
    wx.invalidate_tokens(app.appid)
    sink.requests.clear()
    await wx.push(app.appid, "o_unknown_user_0000000000001", messages.click("K"))
    body = sink.requests[0].json
    assert body["userInfo"] is None
    assert body["userInfoError"]
    error = body["userInfoError"]
    assert error.startswith("invalid appsecret")  # WeChat's errmsg, as go-wx-gateway sent it
    assert app.secret not in error
    assert "secret=" not in error
    assert "http" not in error


async def test_dont_append_userinfo_and_job_events_skip_user_info(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    await start_gateway([service_conf(app, proxy=sink.base_url)], **{"dont-append-userinfo": True})
    user = wx.add_user(app.appid)
    await wx.push(app.appid, user.openid, messages.text("hi"))
    assert "userInfo" not in sink.requests[0].json
    assert wx.calls("/cgi-bin/user/info") == ()


async def test_legacy_click_path_also_posts_to_event_event(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    sink.answers["/event/event"] = {"type": "text", "msg": "old upstream"}
    sink.answers["/event/CLICK"] = b"404 page not found"
    await start_gateway([service_conf(app, proxy=sink.base_url, **{"legacy-click-path": True})])
    user = wx.add_user(app.appid)
    result = await wx.push(app.appid, user.openid, messages.click("K"))
    assert sorted(r.path for r in sink.requests) == ["/event/CLICK", "/event/event"]
    assert result.verdict == "reply"
    assert result.reply is not None
    assert result.reply.fields["Content"] == "old upstream"


async def test_channels_shop_events_keep_exact_integer_ids(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    shop = wx.create_app(mode="safe", is_shop=True)
    await start_gateway(
        [service_conf(shop, name="shop", proxy=sink.base_url, **{"is-channels-ec": True})]
    )
    big = 3705115058471208928  # > 2**53: a float would change it
    order, result = await wx.order_scenario(shop.appid, "channels_ec_order_pay", order_id=big)
    assert result.verdict == "no_reply"
    body = sink.at("/event/channels_ec_order_pay")[0]
    assert b'"order_id":3705115058471208928' in body.body
    assert body.json["order_info"]["order_id"] == big
    assert "userInfo" not in body.json  # shops never get userInfo

    # an order id sent as a string, and an event go-wx-gateway dropped (D27)
    await wx.order_scenario(shop.appid, "channels_ec_order_new", ids_as_strings=True)
    new = sink.at("/event/channels_ec_order_new")[0].json
    assert isinstance(new["order_info"]["order_id"], int)

    _, result = await wx.aftersale_scenario(shop.appid, order.order_id, after_sale_order_id=77)
    assert result.verdict == "no_reply"
    update = sink.at("/event/channels_ec_aftersale_update")[0].json
    assert update["finder_shop_aftersale_status_update"]["after_sale_order_id"] == "77"


async def test_shop_events_in_xml_are_forwarded_too(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    shop = wx.create_app(mode="plain", is_shop=True, shop_format="xml")
    await start_gateway(
        [service_conf(shop, name="shop", proxy=sink.base_url, **{"is-channels-ec": True})]
    )
    _, result = await wx.order_scenario(shop.appid, "channels_ec_order_cancel", order_id=12345)
    assert result.verdict == "no_reply"
    body = sink.at("/event/channels_ec_order_cancel")[0].json
    assert body["order_info"]["order_id"] == 12345
