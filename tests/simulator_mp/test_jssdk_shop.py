"""JS-SDK tickets and the wx.config check, shorturl, the shop APIs and events, API faults."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.mp.signature import jsapi_signature
from weixin_gateway.simulator.mp import (
    ApiFaultPlan,
    AppConfig,
    OfficialAccountSimulator,
    messages,
)

from .conftest import Receiver, WeChatApi

Serve = Callable[[Receiver], Any]

# official-account.md §7.7
J_TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
J_NONCE = "Wm3WZYTPz0wzccnW"
J_TIMESTAMP = 1414587457
J1_URL = "http://mp.weixin.qq.com?params=value"
J1_SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
J2_URL = "https://example.com/pay/index.html?order=42&from=menu#/confirm"
J2_SIGNATURE = "65fc2b5419a951afc9f1eda0281ecddea5048485"


@pytest.fixture
def token(wx: OfficialAccountSimulator, app: AppConfig) -> str:
    return wx.issue_token(app.appid).token


async def test_getticket_is_stable_until_it_expires(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str, clock: FakeClock
) -> None:
    first = await api.call("/cgi-bin/ticket/getticket", token, type="jsapi")
    assert first["errcode"] == 0
    assert first["errmsg"] == "ok"
    assert first["expires_in"] == 7200
    clock.advance(100)
    again = await api.call("/cgi-bin/ticket/getticket", token, type="jsapi")
    assert again["ticket"] == first["ticket"]
    assert again["expires_in"] == 7100
    card = await api.call("/cgi-bin/ticket/getticket", token, type="wx_card")
    assert card["ticket"] != first["ticket"]
    assert (await api.call("/cgi-bin/ticket/getticket", token, type="x"))["errcode"] == 40097
    clock.advance(7100)
    token = wx.issue_token(app.appid).token
    renewed = await api.call("/cgi-bin/ticket/getticket", token, type="jsapi")
    assert renewed["ticket"] != first["ticket"]


async def test_wx_config_check_with_the_official_vectors(
    wx: OfficialAccountSimulator, app: AppConfig, clock: FakeClock
) -> None:
    wx.issue_ticket(app.appid, "jsapi", J_TICKET)
    j1 = wx.verify_jssdk(
        url=J1_URL, noncestr=J_NONCE, timestamp=J_TIMESTAMP, signature=J1_SIGNATURE
    )
    assert j1.ok
    assert j1.reason == "ok"
    j2 = wx.verify_jssdk(
        url=J2_URL, noncestr=J_NONCE, timestamp=J_TIMESTAMP, signature=J2_SIGNATURE
    )
    assert j2.ok
    assert (
        jsapi_signature(jsapi_ticket=J_TICKET, noncestr=J_NONCE, timestamp=J_TIMESTAMP, url=J2_URL)
        == J2_SIGNATURE
    )
    with_fragment = hashlib.sha1(  # noqa: S324 - the protocol's hash
        f"jsapi_ticket={J_TICKET}&noncestr={J_NONCE}&timestamp={J_TIMESTAMP}&url={J2_URL}".encode()
    ).hexdigest()
    buggy = wx.verify_jssdk(
        url=J2_URL, noncestr=J_NONCE, timestamp=J_TIMESTAMP, signature=with_fragment
    )
    assert not buggy.ok
    assert buggy.reason == "invalid signature"
    assert buggy.signed_with_fragment
    wrong = wx.verify_jssdk(
        url=J1_URL, noncestr="other", timestamp=J_TIMESTAMP, signature=J1_SIGNATURE
    )
    assert not wrong.ok
    assert not wrong.signed_with_fragment
    clock.advance(7200)
    stale = wx.verify_jssdk(
        url=J1_URL, noncestr=J_NONCE, timestamp=J_TIMESTAMP, signature=J1_SIGNATURE
    )
    assert not stale.ok
    assert stale.reason == "stale ticket"


async def test_wx_config_check_over_http(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig
) -> None:
    issued = (
        await api.post("/_sim/mp/jssdk/tickets", {"appid": app.appid, "ticket": J_TICKET})
    ).json()
    assert issued == {"ticket": J_TICKET, "type": "jsapi"}
    body = {
        "url": J2_URL,
        "noncestr": J_NONCE,
        "timestamp": str(J_TIMESTAMP),
        "signature": J2_SIGNATURE,
        "appid": app.appid,
    }
    assert (await api.post("/_sim/mp/jssdk/verify", body)).json() == {
        "ok": True,
        "reason": "ok",
        "signed_with_fragment": False,
    }
    missing = await api.post("/_sim/mp/jssdk/verify", {"url": J1_URL, "timestamp": 1})
    assert missing.status == 400
    assert missing.json()["field"] == "noncestr"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("echo", "LONG"), ("legacy", "https://w.url.cn/s/"), ("unsupported", 45103)],
)
async def test_shorturl_modes(
    wx: OfficialAccountSimulator, api: WeChatApi, token: str, mode: str, expected: object
) -> None:
    wx.configure(shorturl_mode=mode)
    long_url = "https://example.com/a/very/long/url?x=1"
    data = await api.call(
        "/cgi-bin/shorturl", token, {"action": "long2short", "long_url": long_url}
    )
    if expected == 45103:
        assert data["errcode"] == 45103
        assert data["errmsg"].startswith("This API has been unsupported")
    elif expected == "LONG":
        assert data == {"errcode": 0, "errmsg": "ok", "short_url": long_url}
    else:
        assert data["short_url"].startswith(str(expected))


async def test_shop_details_keep_big_ids_exact(
    wx: OfficialAccountSimulator, api: WeChatApi
) -> None:
    shop = wx.create_app(is_shop=True)
    token = wx.issue_token(shop.appid).token
    order = wx.create_order(shop.appid, order_id=3705115058471208928, status=20)
    aftersale = wx.create_aftersale(shop.appid, order.order_id, after_sale_order_id=2**60 + 7)
    data = await api.call("/channels/ec/order/get", token, {"order_id": "3705115058471208928"})
    assert data["errcode"] == 0
    assert data["errmsg"] == "ok"
    assert data["order"]["order_id"] == "3705115058471208928"
    assert data["order"]["status"] == 20
    assert data["order"]["aftersale_detail"]["aftersale_order_list"][0][
        "aftersale_order_id"
    ] == str(2**60 + 7)
    raw = await api.post(
        "/channels/ec/aftersale/getaftersaleorder",
        {"after_sale_order_id": str(aftersale.after_sale_order_id)},
        params={"access_token": token},
    )
    assert '"after_sale_order_id":"1152921504606846983"' in raw.text
    assert raw.json()["after_sale_order"]["status"] == "MERCHANT_PROCESSING"
    unknown = await api.call("/channels/ec/order/get", token, {"order_id": "1"})
    assert unknown["errcode"] == 100002
    oa = wx.create_app()
    oa_token = wx.issue_token(oa.appid).token
    refused = await api.call("/channels/ec/order/get", oa_token, {"order_id": "1"})
    assert refused["errcode"] == 48001


@pytest.mark.parametrize(
    ("shop_format", "ids_as_strings"), [("json", False), ("json", True), ("xml", False)]
)
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_shop_events_reach_the_gateway(
    wx: OfficialAccountSimulator, serve: Serve, shop_format: str, ids_as_strings: bool, mode: str
) -> None:
    shop = wx.create_app(is_shop=True, shop_format=shop_format, mode=mode)
    receiver = Receiver(shop, channels_ec=True)
    wx.update_app(shop.appid, push_url=await serve(receiver))
    order, result = await wx.order_scenario(
        shop.appid, "channels_ec_order_pay", ids_as_strings=ids_as_strings
    )
    assert result.verdict == "no_reply"
    assert result.shop
    assert order.order_id > 2**53
    push = receiver.pushes[0]
    assert push.event == "channels_ec_order_pay"
    info = push.fields["order_info"]
    assert isinstance(info, dict)
    if shop_format == "json" and not ids_as_strings:
        assert info["order_id"] == order.order_id  # an exact JSON integer
        assert f'"order_id":{order.order_id}' in result.message
    else:
        assert info["order_id"] == str(order.order_id)
    assert wx.orders(shop.appid)[0].status == 20
    aftersale, pushed = await wx.aftersale_scenario(shop.appid, order.order_id, "USER_WAIT_RETURN")
    assert pushed.verdict == "no_reply"
    assert receiver.pushes[1].event == "channels_ec_aftersale_update"
    assert aftersale.status == "USER_WAIT_RETURN"


async def test_shop_events_follow_the_retry_schedule(
    wx: OfficialAccountSimulator, serve: Serve, clock: FakeClock
) -> None:
    shop = wx.create_app(is_shop=True)
    receiver = Receiver(shop, behaviour="status500")
    wx.update_app(shop.appid, push_url=await serve(receiver))
    start = wx.now()
    spec = messages.order_event("channels_ec_order_new", 3705115058471208928)
    result = await wx.push_shop(shop.appid, spec)
    assert result.verdict == "failed"
    assert len(result.attempts) == 10
    assert clock.sleeps == [0, 0, 10, 60, 300, 1800, 3600, 3600, 3600]
    assert wx.now() - start == sum(clock.sleeps)
    assert len({hit.body for hit in receiver.hits}) == 1
    receiver.behaviour = "custom"
    receiver.reply_body = b"ok"  # neither success nor empty: not accepted
    again = await wx.push_shop(shop.appid, spec, attempts=2)
    assert again.verdict == "failed"
    assert again.error == "the answer is neither 'success' nor empty"


async def test_api_faults(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str
) -> None:
    path = "/cgi-bin/ticket/getticket"
    wx.add_fault(ApiFaultPlan("errcode", path=path, count=2))
    codes = [(await api.call(path, token, type="jsapi"))["errcode"] for _ in range(3)]
    assert codes == [-1, -1, 0]
    wx.add_fault(ApiFaultPlan("errcode", path=path, errcode=45009))
    assert (await api.call(path, token, type="jsapi"))["errcode"] == 45009
    wx.add_fault(ApiFaultPlan("status", path=path, status=503))
    assert (await api.get(path, {"access_token": token, "type": "jsapi"})).status == 503
    wx.add_fault(ApiFaultPlan("non_json", path=path))
    html = await api.get(path, {"access_token": token, "type": "jsapi"})
    assert html.status == 200
    assert html.text.startswith("<html>")
    with pytest.raises(json.JSONDecodeError):
        html.json()
    wx.add_fault(ApiFaultPlan("latency", path="*", latency_ms=200))
    started = time.monotonic()
    await api.call(path, token, type="jsapi")
    assert time.monotonic() - started >= 0.2
    # aiohttp retries an idempotent GET once on a reused connection: reset both tries
    wx.add_fault(ApiFaultPlan("reset", path=path, count=2))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.get(path, {"access_token": token, "type": "jsapi"})
    assert wx.faults() == ()
    faulted = [c.fault for c in wx.calls(path)]
    assert faulted.count("errcode") == 3
    assert "reset" in faulted
