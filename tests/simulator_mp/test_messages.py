"""Template, subscription and customer-service messages; temporary media."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator

from .conftest import Receiver, WeChatApi

Serve = Callable[[Receiver], Any]
TEMPLATE = "/cgi-bin/message/template/send"
BIZSEND = "/cgi-bin/message/subscribe/bizsend"
CUSTOM = "/cgi-bin/message/custom/send"


@pytest.fixture
def token(wx: OfficialAccountSimulator, app: AppConfig) -> str:
    return wx.issue_token(app.appid).token


def _text(openid: str, content: str = "hello") -> dict[str, object]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


async def test_template_send_records_and_reports_the_job(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str, serve: Serve
) -> None:
    receiver = Receiver(app, behaviour="success")
    wx.update_app(app.appid, push_url=await serve(receiver))
    template = wx.add_template(app.appid)
    user = wx.add_user(app.appid)
    body = {
        "touser": user.openid,
        "template_id": template,
        "url": "https://example.com/order/1",
        "client_msg_id": "order-1",
        "data": {"first": {"value": "您好"}, "keyword1": {"value": "42", "color": "#173177"}},
    }
    data = await api.call(TEMPLATE, token, body)
    assert data["errcode"] == 0
    assert data["errmsg"] == "ok"
    assert data["msgid"] > 2**31
    again = await api.call(TEMPLATE, token, body)
    assert again["msgid"] == data["msgid"]  # client_msg_id is idempotent
    (sent,) = wx.template_messages(app.appid)
    assert sent.openid == user.openid
    assert sent.data["first"] == {"value": "您好"}
    assert wx.transcript(app.appid, user.openid)[-1].source == "template"
    await wx.wait_idle()
    job = wx.pushes(app.appid)[-1]
    assert job.event == "TEMPLATESENDJOBFINISH"
    assert job.verdict == "no_reply"
    assert f"<MsgID>{data['msgid']}</MsgID>" in job.message
    assert "<Status><![CDATA[success]]></Status>" in job.message


@pytest.mark.parametrize(
    ("case", "errcode"),
    [
        ("unknown_user", 40003),
        ("unsubscribed", 43004),
        ("unknown_template", 40037),
        ("banned", 43116),
        ("bad_data", 47003),
        ("unsupported", 45109),
    ],
)
async def test_template_send_errors(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    token: str,
    case: str,
    errcode: int,
) -> None:
    user = wx.add_user(app.appid, subscribed=case != "unsubscribed")
    template = wx.add_template(app.appid, banned=case == "banned")
    body: dict[str, object] = {
        "touser": "nobody" if case == "unknown_user" else user.openid,
        "template_id": "nope" if case == "unknown_template" else template,
        "data": {"k": "flat"} if case == "bad_data" else {"k": {"value": "v"}},
    }
    if case == "unsupported":
        wx.update_app(app.appid, template_api=False)
    assert (await api.call(TEMPLATE, token, body))["errcode"] == errcode
    assert wx.template_messages(app.appid) == ()


async def test_template_daily_quota(wx: OfficialAccountSimulator, api: WeChatApi) -> None:
    app = wx.create_app(api_quotas={"template_send": 1})
    token = wx.issue_token(app.appid).token
    body = {
        "touser": wx.add_user(app.appid).openid,
        "template_id": wx.add_template(app.appid),
        "data": {},
    }
    assert (await api.call(TEMPLATE, token, body))["errcode"] == 0
    assert (await api.call(TEMPLATE, token, body))["errcode"] == 45009


async def test_bizsend_needs_a_one_time_subscription(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str, serve: Serve
) -> None:
    receiver = Receiver(app, behaviour="success")
    wx.update_app(app.appid, push_url=await serve(receiver))
    user = wx.add_user(app.appid)
    body = {
        "touser": user.openid,
        "template_id": "TPL_A",
        "page": "https://example.com/p",
        "data": {
            "thing1": {"value": "订单已发货"},
            "number2": {"value": "42"},
            "phrase3": {"value": "已完成"},
            "amount4": {"value": "¥12.50"},
        },
    }
    wx.add_subscribe_template(app.appid, "TPL_A")
    assert (await api.call(BIZSEND, token, body))["errcode"] == 43101
    popup = await wx.answer_popup(app.appid, user.openid, {"TPL_A": "accept"})
    assert popup.verdict == "no_reply"
    assert wx.user(app.appid, user.openid).subscriptions == {"TPL_A": 1}
    assert await api.call(BIZSEND, token, body) == {"errcode": 0, "errmsg": "ok"}
    refused = await api.call(BIZSEND, token, body)
    assert refused["errcode"] == 43101
    assert refused["errmsg"].startswith("user refuse to accept the msg")
    (sent,) = wx.subscribe_messages(app.appid)
    assert sent.template_id == "TPL_A"
    await wx.wait_idle()
    assert wx.pushes(app.appid)[-1].event == "subscribe_msg_sent_event"
    await wx.answer_popup(app.appid, user.openid, {"TPL_A": "reject"})
    assert (await api.call(BIZSEND, token, body))["errcode"] == 43101


@pytest.mark.parametrize(
    ("change", "errcode", "detail"),
    [
        ({"template_id": "unknown"}, 40037, ""),
        ({"touser": "nobody"}, 40003, ""),
        ({"page": "pages/index"}, 41030, ""),
        ({"data": {"thing1": {"value": "x" * 21}}}, 47003, "data.thing1.value"),
        ({"data": {"phrase1": {"value": "too long phrase"}}}, 47003, "data.phrase1.value"),
        ({"data": {"number1": {"value": "12a"}}}, 47003, "data.number1.value"),
    ],
)
async def test_bizsend_validation(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    token: str,
    change: dict[str, object],
    errcode: int,
    detail: str,
) -> None:
    user = wx.add_user(app.appid)
    wx.grant_subscription(app.appid, user.openid, "TPL")
    body = {"touser": user.openid, "template_id": "TPL", "data": {"thing1": {"value": "ok"}}}
    body.update(change)
    data = await api.call(BIZSEND, token, body)
    assert data["errcode"] == errcode
    assert detail in data["errmsg"]
    assert wx.user(app.appid, user.openid).subscriptions["TPL"] == 1  # not consumed


async def test_custom_send_needs_a_window(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    token: str,
    serve: Serve,
    clock: FakeClock,
) -> None:
    wx.update_app(app.appid, push_url=await serve(Receiver(app, behaviour="success")))
    user = wx.add_user(app.appid)
    closed = await api.call(CUSTOM, token, _text(user.openid))
    assert closed["errcode"] == 45015
    assert closed["errmsg"].startswith("response out of time limit or subscription is canceled")
    await wx.user_says(app.appid, user.openid, "hi")
    results = [
        (await api.call(CUSTOM, token, _text(user.openid, f"m{i}")))["errcode"] for i in range(6)
    ]
    assert results == [0, 0, 0, 0, 0, 45047]
    clock.advance(48 * 3600)
    token = wx.issue_token(app.appid).token
    assert (await api.call(CUSTOM, token, _text(user.openid)))["errcode"] == 45015
    await wx.user_says(app.appid, user.openid, "again")
    clock.advance(48 * 3600 - 1)
    token = wx.issue_token(app.appid).token
    assert (await api.call(CUSTOM, token, _text(user.openid)))["errcode"] == 0
    sent = wx.custom_messages(app.appid, user.openid)
    assert [m.body["text"] for m in sent][:2] == [{"content": "m0"}, {"content": "m1"}]
    assert all(m.window == "message" for m in sent)
    seqs = [m.seq for m in sent]
    assert seqs == sorted(seqs)


async def test_menu_subscribe_and_scan_windows_are_separate(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    token: str,
    serve: Serve,
    clock: FakeClock,
) -> None:
    wx.update_app(app.appid, push_url=await serve(Receiver(app, behaviour="success")))
    user = wx.add_user(app.appid)
    await wx.click_menu(app.appid, user.openid, "MENU")
    codes = [(await api.call(CUSTOM, token, _text(user.openid)))["errcode"] for _ in range(4)]
    assert codes == [0, 0, 0, 45047]  # 3 per click, no 48 h quota
    clock.advance(60)
    assert (await api.call(CUSTOM, token, _text(user.openid)))["errcode"] == 45015
    await wx.follow(app.appid, user.openid)
    assert [w.trigger for w in wx.user(app.appid, user.openid).windows] == ["menu", "subscribe"]
    assert (await api.call(CUSTOM, token, _text(user.openid)))["errcode"] == 0
    await wx.unfollow(app.appid, user.openid)
    assert (await api.call(CUSTOM, token, _text(user.openid)))["errcode"] == 45015


async def test_window_rules_can_be_switched_off(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, token: str
) -> None:
    user = wx.add_user(app.appid)
    wx.configure(enforce_custom_window=False)
    assert (await api.call(CUSTOM, token, _text(user.openid)))["errcode"] == 0
    wx.configure(enforce_custom_window=True, enforce_custom_quota=False)
    wx.open_window(app.appid, user.openid, "menu")
    codes = [(await api.call(CUSTOM, token, _text(user.openid)))["errcode"] for _ in range(5)]
    assert codes == [0] * 5


@pytest.mark.parametrize(
    ("message", "errcode"),
    [
        ({"msgtype": "text", "text": {"content": ""}}, 44004),
        ({"msgtype": "text", "text": {"content": "x" * 2049}}, 45002),
        ({"msgtype": "image", "image": {"media_id": "missing"}}, 40007),
        ({"msgtype": "news", "news": {"articles": [{"title": "a"}, {"title": "b"}]}}, 45008),
        ({"msgtype": "news", "news": {"articles": []}}, 44003),
        ({"msgtype": "hologram", "hologram": {}}, 40008),
        ({"msgtype": "text"}, 47001),
    ],
)
async def test_custom_send_validation(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    token: str,
    message: dict[str, object],
    errcode: int,
) -> None:
    user = wx.add_user(app.appid)
    wx.open_window(app.appid, user.openid)
    assert (await api.call(CUSTOM, token, {"touser": user.openid, **message}))["errcode"] == errcode
    assert (await api.call(CUSTOM, token, _text("nobody")))["errcode"] == 40003


async def test_media_upload_and_use(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    token: str,
    http: aiohttp.ClientSession,
    clock: FakeClock,
) -> None:
    async def upload(kind: str, data: bytes, filename: str) -> Any:
        form = aiohttp.FormData()
        form.add_field("media", data, filename=filename, content_type="application/octet-stream")
        url = f"{wx.api_base_url}/cgi-bin/media/upload"
        async with http.post(url, params={"access_token": token, "type": kind}, data=form) as resp:
            return await resp.json(content_type=None)

    jpeg = b"\xff\xd8\xff\xe0" + b"0" * 100
    image = await upload("image", jpeg, "photo.jpg")
    assert set(image) == {"type", "media_id", "created_at"}
    assert image["type"] == "image"
    thumb = await upload("thumb", jpeg, "t.jpg")
    assert "thumb_media_id" in thumb
    assert (await upload("sticker", jpeg, "a.jpg"))["errcode"] == 40004
    assert (await upload("voice", jpeg, "a.jpg"))["errcode"] == 40005
    assert (await upload("thumb", b"\xff\xd8" + b"0" * 70_000, "big.jpg"))["errcode"] == 40006
    got = await api.get(
        "/cgi-bin/media/get", {"access_token": token, "media_id": image["media_id"]}
    )
    assert got.status == 200
    assert got.headers["Content-Type"] == "image/jpeg"
    user = wx.add_user(app.appid)
    wx.open_window(app.appid, user.openid)
    message = {"touser": user.openid, "msgtype": "image", "image": {"media_id": image["media_id"]}}
    assert (await api.call(CUSTOM, token, message))["errcode"] == 0
    clock.advance(3 * 86400)
    token = wx.issue_token(app.appid).token
    wx.open_window(app.appid, user.openid)
    assert (await api.call(CUSTOM, token, message))["errcode"] == 40007
    gone = await api.get(
        "/cgi-bin/media/get", {"access_token": token, "media_id": image["media_id"]}
    )
    assert gone.json()["errcode"] == 40007
