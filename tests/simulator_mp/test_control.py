"""The /_sim/mp/ control API: every route over HTTP, and 4xx answers that name the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator.mp import OfficialAccountSimulator

from .conftest import Receiver, WeChatApi

Serve = Callable[[Receiver], Any]
P = "/_sim/mp"


async def _ok(api: WeChatApi, path: str, body: object = None) -> Any:
    answer = await api.post(P + path, body if body is not None else {})
    assert answer.status == 200, answer.text
    return answer.json()


async def _get(api: WeChatApi, route: str, **params: str) -> Any:
    answer = await api.get(P + route, params)
    assert answer.status == 200, answer.text
    return answer.json()


async def test_config_and_clock(
    wx: OfficialAccountSimulator, api: WeChatApi, clock: FakeClock
) -> None:
    config = await _get(api, "/config")
    assert config["push_timeout_s"] == 0.3
    assert config["shop_retry_schedule_s"][2] == 10
    changed = await _ok(api, "/config", {"shorturl_mode": "legacy", "push_attempts": 2})
    assert changed["shorturl_mode"] == "legacy"
    assert wx.config.push_attempts == 2
    before = (await _get(api, "/clock"))["now"]
    assert before == clock.time()
    assert (await _ok(api, "/clock", {"advance_s": 301}))["now"] == before + 301
    assert (await _ok(api, "/clock", {"set": 1_800_000_000}))["now"] == 1_800_000_000
    assert wx.now() == 1_800_000_000


async def test_apps_users_and_templates(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    app = await _ok(api, "/apps", {"mode": "safe", "is_shop": True})
    appid = app["appid"]
    assert app["mode"] == "safe"
    assert len(app["encoding_aes_key"]) == 43
    assert app["secret"]
    fixed = await _ok(
        api,
        "/apps",
        {
            "appid": "wxb11529c136998cb6",
            "secret": "s3cret",
            "token": "pamtest",
            "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "gh_id": "gh_10f6c3c3ac5a",
        },
    )
    assert fixed["token"] == "pamtest"
    listed = await _get(api, "/apps")
    assert [a["appid"] for a in listed["apps"]] == [appid, "wxb11529c136998cb6"]
    updated = await _ok(api, f"/apps/{appid}", {"push_url": "http://127.0.0.1:1/wx"})
    assert updated["push_url"] == "http://127.0.0.1:1/wx"
    assert (await _get(api, f"/apps/{appid}"))["is_shop"] is True
    user = await _ok(api, f"/apps/{appid}/users", {"openid": "oFixed", "tagid_list": [1]})
    assert user["openid"] == "oFixed"
    assert user["subscribed"] is True
    assert user["tagid_list"] == [1]
    assert (await _ok(api, f"/apps/{appid}/users/oFixed", {"blocked": True}))["blocked"] is True
    window = await _ok(api, f"/apps/{appid}/users/oFixed/window", {"trigger": "menu"})
    assert window["windows"][0]["trigger"] == "menu"
    assert window["windows"][0]["quota"] == 3
    assert (await _get(api, f"/apps/{appid}/users/oFixed"))["blocked"] is True
    assert len((await _get(api, f"/apps/{appid}/users"))["users"]) == 1
    template = await _ok(api, f"/apps/{appid}/templates", {"template_id": "T1", "banned": True})
    assert template == {"template_id": "T1", "kind": "template"}
    sub = await _ok(api, f"/apps/{appid}/templates", {"kind": "subscribe"})
    granted = await _ok(
        api, f"/apps/{appid}/subscriptions", {"openid": "oFixed", "template_id": sub["template_id"]}
    )
    assert granted["subscriptions"] == {sub["template_id"]: 1}
    media = await _ok(api, f"/apps/{appid}/media", {"type": "thumb", "data_base64": "/9j/4A=="})
    assert media["type"] == "thumb"
    assert media["size"] == 4
    assert "data" not in media
    assert len((await _get(api, f"/apps/{appid}/media"))["media"]) == 1


async def test_tokens_calls_and_faults(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    app = wx.create_app()
    issued = await _ok(api, "/tokens", {"appid": app.appid, "kind": "stable"})
    assert issued["kind"] == "stable"
    assert issued["state"] == "valid"
    token = await api.token(app)
    tokens = (await _get(api, "/tokens", appid=app.appid))["tokens"]
    assert [t["kind"] for t in tokens] == ["stable", "classic"]
    expired = await _ok(api, "/tokens/expire", {"token": token})
    assert expired["state"] == "expired"
    assert (await api.call("/cgi-bin/ticket/getticket", token, type="jsapi"))["errcode"] == 42001
    assert (await _ok(api, "/tokens/invalidate", {"appid": app.appid}))["invalidated"] == 1
    stable = issued["token"]
    assert (await api.call("/cgi-bin/ticket/getticket", stable, type="jsapi"))["errcode"] == 40001
    calls = (await _get(api, "/calls", path="/cgi-bin/ticket/getticket"))["calls"]
    assert [c["errcode"] for c in calls] == [42001, 40001]
    assert calls[0]["access_token"] == token
    assert calls[1]["appid"] == app.appid
    since = (await _get(api, "/calls", since=str(calls[0]["seq"])))["calls"]
    assert [c["seq"] for c in since] == [calls[1]["seq"]]
    assert (await api.delete(P + "/calls")).status == 200
    assert wx.calls() == ()
    fault = await _ok(
        api, "/faults", {"kind": "errcode", "path": "/cgi-bin/token", "errcode": -1, "count": None}
    )
    assert fault["remaining"] is None
    assert (await api.get("/cgi-bin/token")).json()["errcode"] == -1
    assert len((await _get(api, "/faults"))["faults"]) == 1
    assert (await api.delete(f"{P}/faults/{fault['id']}")).status == 200
    assert (await api.delete(f"{P}/faults/{fault['id']}")).status == 404
    await _ok(api, "/faults", {"kind": "latency", "latency_ms": 1})
    assert (await api.delete(P + "/faults")).status == 200
    assert wx.faults() == ()


async def test_oauth_and_qr_routes(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    app = wx.create_app()
    code = await _ok(
        api,
        "/oauth/codes",
        {
            "appid": app.appid,
            "openid": "oWeb",
            "scope": "snsapi_userinfo",
            "redirect_uri": "https://gw.example.com/cb",
            "state": "s",
        },
    )
    assert code["openid"] == "oWeb"
    assert code["location"].startswith("https://gw.example.com/cb?code=")
    codes = (await _get(api, "/oauth/codes", appid=app.appid))["codes"]
    assert codes[0]["code"] == code["code"]
    assert codes[0]["used_at"] is None
    browsed = await _ok(
        api, "/oauth/browse", {"appid": app.appid, "redirect_uri": "http://127.0.0.1:9/cb"}
    )
    assert browsed["hits"][0]["error"].startswith("connection error")
    qr = await _ok(api, "/qrcodes", {"appid": app.appid, "scene": "promo", "permanent": True})
    assert qr["action_name"] == "QR_LIMIT_STR_SCENE"
    assert qr["expires_at"] is None
    assert (await _get(api, "/qrcodes", appid=app.appid))["qrcodes"][0]["ticket"] == qr["ticket"]


async def test_push_routes_and_scenarios(
    wx: OfficialAccountSimulator, api: WeChatApi, serve: Serve
) -> None:
    app = wx.create_app(mode="safe")
    receiver = Receiver(app)
    wx.update_app(app.appid, push_url=await serve(receiver))
    pushed = await _ok(
        api,
        "/push",
        {"appid": app.appid, "openid": "oU1", "msg_type": "text", "fields": {"Content": "hello"}},
    )
    assert pushed["verdict"] == "reply"
    assert pushed["delivered"] is True
    assert pushed["reply"]["fields"]["Content"] == "echo: hello"
    assert isinstance(pushed["msg_id"], str)
    assert int(pushed["msg_id"]) > 2**53
    assert pushed["attempts"][0]["query"]["encrypt_type"] == "aes"
    event = await _ok(
        api,
        "/push",
        {
            "appid": app.appid,
            "openid": "oU1",
            "event": "CLICK",
            "fields": {"EventKey": "K"},
            "mode": "plain",
        },
    )
    assert event["event"] == "CLICK"
    assert event["mode"] == "plain"
    dup = await _ok(
        api,
        "/push/duplicate",
        {"appid": app.appid, "openid": "oU1", "msg_type": "text", "fields": {"Content": "d"}},
    )
    assert len(dup["pushes"]) == 2
    assert dup["pushes"][0]["msg_id"] == dup["pushes"][1]["msg_id"]
    verified = await _ok(api, "/verify-url", {"appid": app.appid, "echostr": "123"})
    assert verified["ok"] is True
    assert verified["body"] == "123"
    listed = (await _get(api, "/pushes", appid=app.appid))["pushes"]
    assert len(listed) == 4
    one = await _get(api, f"/pushes/{listed[0]['id']}")
    assert one["message"].startswith("<xml>")
    follow = await _ok(api, "/scenario/follow", {"appid": app.appid, "openid": "oNew", "scene": 9})
    assert follow["event"] == "subscribe"
    assert wx.user(app.appid, "oNew").qr_scene == 9
    said = await _ok(
        api, "/scenario/message", {"appid": app.appid, "openid": "oNew", "content": "x"}
    )
    assert said["msg_type"] == "text"
    click = await _ok(api, "/scenario/click", {"appid": app.appid, "openid": "oNew", "key": "K"})
    assert click["event"] == "CLICK"
    popup = await _ok(
        api, "/scenario/popup", {"appid": app.appid, "openid": "oNew", "decisions": {"T": "accept"}}
    )
    assert popup["event"] == "subscribe_msg_popup_event"
    ticket = wx.create_qrcode(app.appid, 5).ticket
    scan = await _ok(
        api, "/scenario/scan", {"appid": app.appid, "openid": "oNew", "ticket": ticket}
    )
    assert scan["event"] == "SCAN"
    nothing = await _ok(api, "/scenario/scan", {"appid": app.appid, "ticket": "gone"})
    assert nothing["pushed"] is False
    mass = await _ok(api, "/scenario/mass_send_finished", {"appid": app.appid})
    assert mass["event"] == "MASSSENDJOBFINISH"
    transcript = (await _get(api, "/transcript", appid=app.appid, openid="oNew"))["transcript"]
    assert [e["source"] for e in transcript][:2] == ["passive_reply", "user"]
    unfollow = await _ok(api, "/scenario/unfollow", {"appid": app.appid, "openid": "oNew"})
    assert unfollow["event"] == "unsubscribe"


async def test_shop_routes(wx: OfficialAccountSimulator, api: WeChatApi, serve: Serve) -> None:
    shop = wx.create_app(is_shop=True)
    receiver = Receiver(shop, channels_ec=True)
    wx.update_app(shop.appid, push_url=await serve(receiver))
    order = await _ok(api, "/orders", {"appid": shop.appid, "order_id": "3705115058471208928"})
    assert order["order_id"] == "3705115058471208928"
    created = await _ok(
        api,
        "/scenario/order",
        {"appid": shop.appid, "event": "channels_ec_order_pay", "order_id": "3705115058471208928"},
    )
    assert created["order"]["status"] == 20
    assert created["push"]["verdict"] == "no_reply"
    after = await _ok(
        api, "/scenario/aftersale", {"appid": shop.appid, "order_id": "3705115058471208928"}
    )
    assert after["aftersale"]["order_id"] == "3705115058471208928"
    aftersale = await _ok(
        api,
        "/aftersales",
        {"appid": shop.appid, "order_id": 3705115058471208928, "status": "MERCHANT_REFUND_SUCCESS"},
    )
    assert aftersale["status"] == "MERCHANT_REFUND_SUCCESS"
    raw = await _ok(
        api,
        "/push/shop",
        {
            "appid": shop.appid,
            "event": "product_spu_audit",
            "payload": {"ProductSpuAudit": {"product_id": "1"}},
        },
    )
    assert raw["verdict"] == "no_reply"
    assert receiver.pushes[-1].event == "product_spu_audit"
    orders = await _get(api, "/orders", appid=shop.appid)
    assert len(orders["orders"]) == 1
    assert len(orders["aftersales"]) == 2


async def test_messages_routes(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    app = wx.create_app()
    user = wx.add_user(app.appid)
    wx.open_window(app.appid, user.openid)
    token = wx.issue_token(app.appid).token
    body = {"touser": user.openid, "msgtype": "text", "text": {"content": "late reply"}}
    assert (await api.call("/cgi-bin/message/custom/send", token, body))["errcode"] == 0
    custom = (await _get(api, "/messages", kind="custom", appid=app.appid))["messages"]
    assert custom[0]["body"]["text"]["content"] == "late reply"
    assert (await _get(api, "/messages", kind="template"))["messages"] == []
    assert (await _get(api, "/messages", kind="subscribe", openid=user.openid))["messages"] == []


async def test_reset(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    wx.create_app()
    assert (await _ok(api, "/reset"))["reset"] is True
    assert wx.apps() == ()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/config", {"push_attempts": "3"}, 400, "push_attempts"),
        ("POST", "/config", {"seed": 1}, 400, "seed"),
        ("POST", "/config", {"nope": 1}, 400, "nope"),
        ("POST", "/config", {"shorturl_mode": "tiny"}, 400, "shorturl_mode"),
        ("POST", "/clock", {}, 400, "advance_s"),
        ("POST", "/clock", {"advance_s": -1}, 400, "advance_s"),
        ("POST", "/apps", {"appid": "nope"}, 400, "appid"),
        ("POST", "/apps", {"mode": "secret"}, 400, "mode"),
        ("POST", "/apps", {"encoding_aes_key": "short"}, 400, "encoding_aes_key"),
        ("GET", "/apps/wx0000000000000000", None, 404, "appid"),
        ("POST", "/apps/{appid}", {"appid": "wx1111111111111111"}, 400, "appid"),
        ("POST", "/apps/{appid}/users", {"subscribed": "yes"}, 400, "subscribed"),
        ("POST", "/apps/{appid}/users", {"colour": "red"}, 400, "colour"),
        ("GET", "/apps/{appid}/users/oNobody", None, 404, "openid"),
        ("POST", "/apps/{appid}/users/oNobody/window", {}, 404, "openid"),
        ("POST", "/apps/{appid}/templates", {"kind": "other"}, 400, "kind"),
        ("POST", "/apps/{appid}/media", {"data_base64": "@@"}, 400, "data_base64"),
        ("POST", "/tokens/expire", {"token": "unknown"}, 404, "token"),
        ("POST", "/tokens/invalidate", {}, 400, "appid"),
        ("GET", "/calls?since=x", None, 400, "since"),
        ("GET", "/messages?kind=fax", None, 400, "kind"),
        ("GET", "/transcript?appid={appid}", None, 400, "openid"),
        ("POST", "/oauth/codes", {"appid": "{appid}", "scope": "snsapi_login"}, 400, "scope"),
        ("POST", "/push", {"appid": "{appid}", "openid": "o"}, 400, "msg_type"),
        ("POST", "/push", {"appid": "{appid}", "openid": "o", "msg_type": "text"}, 400, "url"),
        (
            "POST",
            "/push",
            {"appid": "{appid}", "openid": "o", "msg_type": "text", "fields": {"bad name": 1}},
            400,
            "fields",
        ),
        (
            "POST",
            "/push",
            {"appid": "{appid}", "openid": "o", "msg_type": "text", "mode": "aes"},
            400,
            "mode",
        ),
        ("GET", "/pushes/99", None, 404, "id"),
        ("POST", "/scenario/dance", {}, 400, "name"),
        (
            "POST",
            "/scenario/popup",
            {"appid": "{appid}", "openid": "o", "decisions": {"T": "maybe"}},
            400,
            "decisions",
        ),
        ("POST", "/faults", {"kind": "explode"}, 400, "kind"),
        ("POST", "/faults", {"kind": "status", "status": 200}, 400, "status"),
        ("POST", "/faults", {"kind": "latency", "errcode": 1}, 400, "errcode"),
        ("POST", "/faults", {"kind": "latency", "path": "cgi-bin"}, 400, "path"),
        ("DELETE", "/faults/x", None, 400, "id"),
        ("POST", "/aftersales", {"appid": "{appid}", "order_id": 1}, 404, "order_id"),
        ("POST", "/reset", [1], 400, "body"),
    ],
)
async def test_control_errors_name_the_field(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    method: str,
    path: str,
    body: object,
    status: int,
    field: str,
) -> None:
    app = wx.create_app()
    url = P + path.replace("{appid}", app.appid)
    if isinstance(body, dict):
        body = {
            k: v.replace("{appid}", app.appid) if isinstance(v, str) else v for k, v in body.items()
        }
    if method == "GET":
        answer = await api.get(url)
    elif method == "DELETE":
        answer = await api.delete(url)
    else:
        answer = await api.post(url, body)
    assert answer.status == status, answer.text
    data = answer.json()
    assert data["field"] == field
    assert data["error"]
