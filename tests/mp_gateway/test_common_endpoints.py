"""go-wx-gateway's common endpoints with its parameters and JSON shapes (§6.9; D13, D18–D21)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.mp_gateway.conftest import Gateway, StartGateway, service_conf
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator

ENDPOINTS = {
    "health-check": "/health",
    "wx-qr": "/qr",
    "wx-user": "/user",
    "sns-auth2": "/sns-auth2",
    "short-url": "/short-url",
    "tmpl-msg": "/tmpl-msg",
    "sign-jsapi": "/sign-jsapi",
    "channels-ec-order-detail": "/channles-ec-order-detail",  # the sample's spelling
    "channels-ec-refund-detail": "/channels-ec-refund-detail",
}


@pytest.fixture
async def setup(
    wx: OfficialAccountSimulator, start_gateway: StartGateway
) -> tuple[Gateway, AppConfig, AppConfig]:
    app = wx.create_app(mode="safe")
    shop = wx.create_app(mode="plain", is_shop=True)
    gw = await start_gateway(
        [
            service_conf(app, name="oa", path="/wx"),
            service_conf(shop, name="shop", path="/shop", **{"is-channels-ec": True}),
        ],
        **{"common-endpoints": ENDPOINTS},
    )
    return gw, app, shop


async def _call(
    gw: Gateway, method: str, path: str, **kwargs: Any
) -> tuple[int, str, dict[str, Any] | str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, gw.base_url + path, **kwargs) as resp,
    ):
        text = await resp.text()
        content_type = resp.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            assert content_type == "application/json;charset=UTF-8"
            assert text.endswith("\n")
            data = json.loads(text)
            keys = list(data)
            assert keys == sorted(keys), "keys in alphabetical order, as a Go map"
            if resp.status != 200:
                assert data["code"] == resp.status
            return resp.status, text, data
        return resp.status, text, text


async def test_health_check(setup: tuple[Gateway, AppConfig, AppConfig]) -> None:
    gw, _, _ = setup
    status, text, _ = await _call(gw, "GET", "/health")
    assert (status, text) == (200, "OK\n")
    status, text, _ = await _call(gw, "POST", "/health")
    assert (status, text) == (405, "")


async def test_wx_qr(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, app, _ = setup
    status, _, data = await _call(
        gw, "GET", "/qr", params={"s": "oa", "t": "temp", "sceneid": "invite"}
    )
    assert status == 200
    assert isinstance(data, dict)
    assert (data["code"], data["msg"]) == (200, "OK")
    result = data["result"]
    assert list(result) == ["ticketURL2ShowQrCode", "urlIncluedInQrcode"]
    (qr,) = wx.qrcodes(app.appid)
    assert qr.action_name == "QR_STR_SCENE"
    assert qr.scene_str == "invite"
    assert qr.expire_seconds == 30  # go-wx-gateway's default (D21)
    assert result["urlIncluedInQrcode"] == qr.url
    ticket = parse_qs(urlsplit(result["ticketURL2ShowQrCode"]).query)["ticket"][0]
    assert ticket == qr.ticket  # URL-encoded in the URL, decodes back (D20)
    assert urlsplit(result["ticketURL2ShowQrCode"]).path == "/cgi-bin/showqrcode"

    status, _, data = await _call(gw, "GET", "/qr", params={"s": "oa", "t": "forever"})
    assert status == 200
    forever = [q for q in wx.qrcodes(app.appid) if q.action_name == "QR_LIMIT_STR_SCENE"]
    assert [q.scene_str for q in forever] == ["0"]

    for params, expected in [
        ({"t": "temp"}, (400, "no value specified for field Service")),
        ({"s": "oa"}, (400, "no value specified for field QrType")),
        ({"s": "oa", "t": "weekly"}, (400, 't(ype) value must be "temp" or "forever"')),
        (
            {"s": "oa", "t": "temp", "e": "abc"},
            (400, 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ),
        ({"s": "nope", "t": "temp"}, (500, "no params for nope")),
    ]:
        status, _, data = await _call(gw, "GET", "/qr", params=params)
        assert isinstance(data, dict)
        assert (status, data["msg"]) == expected, params


async def test_wx_user(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, app, _ = setup
    user = wx.add_user(app.appid, nickname="Cy")
    status, _, data = await _call(gw, "GET", "/user", params={"s": "oa", "o": user.openid})
    assert status == 200
    assert isinstance(data, dict)
    assert list(data) == ["code", "msg", "userInfo"]
    assert data["userInfo"]["openid"] == user.openid
    status, _, data = await _call(gw, "GET", "/user", params={"s": "oa", "o": "o_nobody"})
    assert status == 500
    assert isinstance(data, dict)
    assert data["msg"].startswith("invalid openid")
    assert data["errcode"] == 40003
    status, _, data = await _call(gw, "GET", "/user", params={"s": "oa"})
    assert (status, data["msg"]) == (400, "no value specified for field OpenId")  # type: ignore[index]


async def test_sns_auth2(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, app, _ = setup
    user = wx.add_user(app.appid)
    code = wx.issue_oauth_code(app.appid, user.openid)
    status, _, data = await _call(gw, "GET", "/sns-auth2", params={"s": "oa", "code": code.code})
    assert status == 200
    assert isinstance(data, dict)
    assert list(data) == ["code", "error", "msg", "openId", "userInfo"]
    assert data["openId"] == user.openid
    assert data["error"] == ""
    assert data["userInfo"]["openid"] == user.openid
    # the same code again: from the cache, not 40163
    status, _, data = await _call(gw, "GET", "/sns-auth2", params={"s": "oa", "code": code.code})
    assert status == 200
    assert data["openId"] == user.openid

    code = wx.issue_oauth_code(app.appid, user.openid, scope="snsapi_userinfo")
    params = {"s": "oa", "code": code.code, "scope": "snsapi_userinfo"}
    status, _, data = await _call(gw, "GET", "/sns-auth2", params=params)
    assert status == 200
    assert data["userInfo"]["openid"] == user.openid
    assert len(wx.calls("/sns/userinfo")) == 1

    status, _, data = await _call(gw, "GET", "/sns-auth2", params={"s": "oa", "code": "bad"})
    assert status == 500
    assert data["msg"].startswith("invalid code")
    status, _, data = await _call(
        gw, "GET", "/sns-auth2", params={"s": "oa", "code": "x", "scope": "all"}
    )
    assert status == 400
    assert data["msg"] == 'scope must be "useinfo", "base", "sns_userinfo" or "sns_base"'  # type: ignore[index]


async def test_short_url_says_wechat_discontinued_it(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, _, _ = setup
    form = {"s": "oa", "u": "https://example.com/a/long/path"}
    status, _, data = await _call(gw, "POST", "/short-url", data=form)
    assert status == 410
    assert isinstance(data, dict)
    assert "discontinued" in data["msg"]
    assert "2021" in data["msg"]
    assert wx.calls("/cgi-bin/shorturl") == ()
    status, _, data = await _call(gw, "POST", "/short-url", data={"s": "oa"})
    assert (status, data["msg"]) == (400, "no value specified for field LongUrl")  # type: ignore[index]


async def test_tmpl_msg(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, app, _ = setup
    user = wx.add_user(app.appid)
    tid = wx.add_template(app.appid)
    body = {
        "s": "oa",
        "to": user.openid,
        "tid": tid,
        "url": "https://example.com/order/1",
        "mp": {"appid": "wxmini", "pagepath": "pages/index"},
        "data": {"first": "hello", "amount": 1000000, "remark": {"value": "v", "color": "#f00"}},
    }
    status, _, data = await _call(gw, "POST", "/tmpl-msg", json=body)
    assert status == 200
    assert isinstance(data, dict)
    (sent,) = wx.template_messages(app.appid)
    assert data["result"] == {"errcode": 0, "errmsg": "ok", "msgid": sent.msgid}  # not null (D18)
    assert sent.openid == user.openid
    assert sent.url == "https://example.com/order/1"
    assert sent.miniprogram == {"appid": "wxmini", "pagepath": "pages/index"}
    assert sent.data["amount"] == {"value": "1000000"}  # not "1e+06"
    assert sent.data["remark"] == {"value": "v", "color": "#f00"}  # not "map[...]"

    for payload, message in [
        ({"to": "x", "tid": "t", "data": {}}, "s(ervice) parameter expected"),
        ({"s": "oa", "tid": "t", "data": {}}, "to(user id) parameter expected"),
        ({"s": "oa", "to": "x", "data": {}}, "tid(template id) parameter expected"),
        ({"s": "oa", "to": "x", "tid": "t", "data": [1]}, "data parameter as a map expected"),
    ]:
        status, _, data = await _call(gw, "POST", "/tmpl-msg", json=payload)
        assert (status, data["msg"]) == (400, message)  # type: ignore[index]
    status, _, data = await _call(gw, "POST", "/tmpl-msg", data=b"{not json")
    assert status == 400
    assert data["msg"].startswith("invalid JSON")
    status, _, data = await _call(gw, "POST", "/tmpl-msg", json={**body, "tid": "no-such-template"})
    assert status == 500
    assert data["errcode"] == 40037


async def test_sign_jsapi_drops_the_fragment(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, app, _ = setup
    page = "https://example.com/pay/index.html?order=42&from=menu"
    status, _, data = await _call(
        gw, "POST", "/sign-jsapi", data={"s": "oa", "u": page + "#/confirm"}
    )
    assert status == 200
    assert isinstance(data, dict)
    params = data["params"]
    assert {"nonce", "signature", "timestamp"} <= set(params)
    assert isinstance(params["timestamp"], int)
    assert len(params["nonce"]) == 16
    assert params["appId"] == app.appid
    assert params["nonceStr"] == params["nonce"]
    check = wx.verify_jssdk(
        url=page,
        noncestr=params["nonce"],
        timestamp=params["timestamp"],
        signature=params["signature"],
        appid=app.appid,
    )
    assert check.ok, check.reason  # signed without "#/confirm" (D19)

    # form values also come from the query string, like Go's FormValue
    status, _, data = await _call(gw, "POST", "/sign-jsapi?s=oa&u=https://e.com/")
    assert status == 200

    # ... and from a multipart/form-data body, which FormValue parses too
    form = aiohttp.MultipartWriter("form-data")
    for name, value in (("s", "oa"), ("u", page + "#/confirm")):
        part = form.append(value)
        part.set_content_disposition("form-data", name=name)
    status, _, data = await _call(gw, "POST", "/sign-jsapi", data=form)
    assert status == 200
    assert isinstance(data, dict)
    signed = data["params"]
    assert wx.verify_jssdk(
        url=page,
        noncestr=signed["nonce"],
        timestamp=signed["timestamp"],
        signature=signed["signature"],
        appid=app.appid,
    ).ok
    broken = {"Content-Type": "multipart/form-data; boundary=x"}
    status, _, data = await _call(gw, "POST", "/sign-jsapi", data=b"garbage", headers=broken)
    assert status == 400


async def test_channels_shop_details(
    setup: tuple[Gateway, AppConfig, AppConfig], wx: OfficialAccountSimulator
) -> None:
    gw, _, shop = setup
    order = wx.create_order(shop.appid, order_id=3705115058471208928)
    status, _text, data = await _call(
        gw, "GET", "/channles-ec-order-detail", params={"s": "shop", "o": str(order.order_id)}
    )
    assert status == 200
    assert isinstance(data, dict)
    assert list(data) == ["code", "msg", "order"]
    assert data["order"]["order_id"] == "3705115058471208928"

    aftersale = wx.create_aftersale(shop.appid, order.order_id, after_sale_order_id=9988)
    status, _, data = await _call(
        gw, "GET", "/channels-ec-refund-detail", params={"s": "shop", "o": "9988"}
    )
    assert status == 200
    assert isinstance(data, dict)
    assert list(data) == ["aftersaleOrder", "code", "msg"]
    assert str(data["aftersaleOrder"]["after_sale_order_id"]) == str(aftersale.after_sale_order_id)

    status, _, data = await _call(
        gw, "GET", "/channles-ec-order-detail", params={"s": "oa", "o": "1"}
    )
    assert (status, data["msg"]) == (500, "params oa is not for channels ec")  # type: ignore[index]
    status, _, data = await _call(gw, "GET", "/channels-ec-refund-detail", params={"s": "shop"})
    assert (status, data["msg"]) == (400, "no value specified for field AftersaleOrderId")  # type: ignore[index]


async def test_tmpl_msg_refuses_deeply_nested_json(
    wx: OfficialAccountSimulator, start_gateway: StartGateway
) -> None:
    app = wx.create_app()
    gw = await start_gateway([service_conf(app)], **{"common-endpoints": {"tmpl-msg": "/tmpl-msg"}})
    status, _, data = await _call(gw, "POST", "/tmpl-msg", data=b"[" * 200_000)
    assert status == 400
    assert data["msg"] == "invalid JSON: nested too deeply"  # type: ignore[index]
