"""user/info (+ batchget), qrcode/create, showqrcode and the scan scenario."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator

from .conftest import Receiver, WeChatApi

Serve = Callable[[Receiver], Any]


@pytest.fixture
def token(wx: OfficialAccountSimulator, app: AppConfig) -> str:
    return wx.issue_token(app.appid).token


async def test_user_info_of_a_follower(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str
) -> None:
    user = wx.add_user(app.appid, tagid_list=[2, 5], remark="vip", qr_scene=42)
    data = await api.call("/cgi-bin/user/info", token, openid=user.openid, lang="zh_CN")
    assert "errcode" not in data
    assert data["subscribe"] == 1
    assert data["openid"] == user.openid
    assert data["unionid"] == user.unionid
    assert len(user.openid) == 28
    assert data["tagid_list"] == [2, 5]
    assert data["remark"] == "vip"
    assert data["qr_scene"] == 42
    assert "nickname" not in data
    assert "headimgurl" not in data
    assert set(data) >= {"language", "subscribe_time", "groupid", "subscribe_scene", "qr_scene_str"}
    wx.configure(user_info_legacy=True)
    legacy = await api.call("/cgi-bin/user/info", token, openid=user.openid)
    assert legacy["nickname"] == user.nickname
    assert legacy["sex"] == 0
    assert "headimgurl" in legacy


async def test_user_info_of_others(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str
) -> None:
    gone = wx.add_user(app.appid, subscribed=False)
    assert await api.call("/cgi-bin/user/info", token, openid=gone.openid) == {
        "subscribe": 0,
        "openid": gone.openid,
        "tagid_list": [],
    }
    other = wx.create_app()
    foreign = wx.add_user(other.appid)
    data = await api.call("/cgi-bin/user/info", token, openid=foreign.openid)
    assert data["errcode"] == 40003
    assert data["errmsg"].startswith("invalid openid")
    assert (await api.call("/cgi-bin/user/info", token))["errcode"] == 41009
    user = wx.add_user(app.appid)
    bad_lang = await api.call("/cgi-bin/user/info", token, openid=user.openid, lang="zh-CN")
    assert bad_lang["errcode"] == 40097


async def test_batchget(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str
) -> None:
    users = [wx.add_user(app.appid), wx.add_user(app.appid, subscribed=False)]
    body = {"user_list": [{"openid": u.openid, "lang": "en"} for u in users]}
    data = await api.call("/cgi-bin/user/info/batchget", token, body)
    assert [u["subscribe"] for u in data["user_info_list"]] == [1, 0]
    too_many = {"user_list": [{"openid": users[0].openid}] * 101}
    assert (await api.call("/cgi-bin/user/info/batchget", token, too_many))["errcode"] == 47003
    unknown = {"user_list": [{"openid": "nobody"}]}
    assert (await api.call("/cgi-bin/user/info/batchget", token, unknown))["errcode"] == 40003


async def test_temporary_qr_code(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str, clock: FakeClock
) -> None:
    body = {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 123}}}
    data = await api.call("/cgi-bin/qrcode/create", token, body)
    assert set(data) == {"ticket", "expire_seconds", "url"}
    assert data["expire_seconds"] == 60  # the default
    ticket = data["ticket"]
    assert "+" in ticket
    assert "/" in ticket
    assert ticket.endswith("=")
    assert data["url"].startswith("http://weixin.qq.com/q/")
    image = await api.get("/cgi-bin/showqrcode?ticket=" + quote(ticket, safe=""))
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/jpeg"
    unencoded = await api.get("/cgi-bin/showqrcode?ticket=" + ticket)
    assert unencoded.status == 404  # "+" became a space
    clock.advance(60)
    assert (await api.get("/cgi-bin/showqrcode", {"ticket": ticket})).status == 404
    long = {
        "action_name": "QR_STR_SCENE",
        "expire_seconds": 2592000,
        "action_info": {"scene": {"scene_str": "invite"}},
    }
    assert (await api.call("/cgi-bin/qrcode/create", token, long))["expire_seconds"] == 2592000


async def test_permanent_qr_code(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str, clock: FakeClock
) -> None:
    body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "shop"}}}
    data = await api.call("/cgi-bin/qrcode/create", token, body)
    assert set(data) == {"ticket", "url"}
    assert (await api.call("/cgi-bin/qrcode/create", token, body))["ticket"] == data["ticket"]
    clock.advance(10**8)
    assert (await api.get("/cgi-bin/showqrcode", {"ticket": data["ticket"]})).status == 200
    code = wx.qrcode(data["ticket"])
    assert code.permanent
    assert code.scene == "shop"
    assert code.action_name == "QR_LIMIT_STR_SCENE"


@pytest.mark.parametrize(
    "body",
    [
        {"action_name": "QR_NOPE", "action_info": {"scene": {"scene_id": 1}}},
        {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}},
        {"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 2**31}}},
        {
            "action_name": "QR_SCENE",
            "expire_seconds": 2592001,
            "action_info": {"scene": {"scene_id": 1}},
        },
        {"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}},
        {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": ""}}},
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "x" * 65}}},
        {"action_name": "QR_SCENE"},
    ],
)
async def test_qr_code_validation(
    wx: OfficialAccountSimulator, api: WeChatApi, token: str, body: dict[str, object]
) -> None:
    assert (await api.call("/cgi-bin/qrcode/create", token, body))["errcode"] == 40035
    wx.configure(qr_invalid_errcode=47003)
    assert (await api.call("/cgi-bin/qrcode/create", token, body))["errcode"] == 47003


async def test_scanning_pushes_subscribe_then_scan(
    wx: OfficialAccountSimulator, app: AppConfig, serve: Serve, clock: FakeClock
) -> None:
    receiver = Receiver(app)
    url = await serve(receiver)
    wx.update_app(app.appid, push_url=url)
    code = wx.create_qrcode(app.appid, 77, expire_seconds=120)
    first = await wx.scan_qr(app.appid, code.ticket, "oScanner")
    assert first is not None
    assert first.event == "subscribe"
    push = receiver.pushes[0]
    assert push.fields["EventKey"] == "qrscene_77"
    assert push.fields["Ticket"] == code.ticket
    user = wx.user(app.appid, "oScanner")
    assert user.subscribed
    assert user.subscribe_scene == "ADD_SCENE_QR_CODE"
    assert user.qr_scene == 77
    second = await wx.scan_qr(app.appid, code.ticket, "oScanner")
    assert second is not None
    assert second.event == "SCAN"
    assert receiver.pushes[1].fields["EventKey"] == "77"
    clock.advance(120)
    assert await wx.scan_qr(app.appid, code.ticket, "oScanner") is None
    assert len(receiver.hits) == 2


async def test_follow_and_unfollow_scenarios(
    wx: OfficialAccountSimulator, app: AppConfig, serve: Serve
) -> None:
    url = await serve(Receiver(app))
    wx.update_app(app.appid, push_url=url)
    followed = await wx.follow(app.appid, "oFan", scene="promo")
    assert followed.verdict == "reply"
    fan = wx.user(app.appid, "oFan")
    assert fan.subscribed
    assert fan.qr_scene_str == "promo"
    await wx.unfollow(app.appid, "oFan")
    assert not wx.user(app.appid, "oFan").subscribed
    mass = await wx.mass_send_finished(app.appid)
    assert mass.event == "MASSSENDJOBFINISH"
    assert mass.openid != "oFan"
