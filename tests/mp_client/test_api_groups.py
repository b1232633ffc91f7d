"""Each API group against the Official Account simulator: happy paths and WeChat's refusals."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.errors import MediaTooLargeError
from weixin_gateway.mp.client import (
    ApiDiscontinuedError,
    Article,
    JsapiSignature,
    MpApiClient,
    WeChatApiError,
)
from weixin_gateway.simulator.mp import OfficialAccountSimulator
from weixin_gateway.simulator.mp.config import AppConfig

from .conftest import ClientFactory

# official-account.md §5.9 / §7.7
J_TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
J_NONCE = "Wm3WZYTPz0wzccnW"
J_TIMESTAMP = 1414587457


# --- user ---------------------------------------------------------------------------------------


async def test_user_info(wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient) -> None:
    user = wx.add_user(app.appid)
    info = await client.user.info(user.openid)
    assert info["openid"] == user.openid
    assert info["subscribe"] == 1
    assert isinstance(info["subscribe_time"], int)


async def test_user_info_unknown_openid_is_40003(client: MpApiClient) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await client.user.info("o_nobody_at_all_xxxxxxxxxxxx")
    assert caught.value.errcode == 40003
    assert caught.value.endpoint == "cgi-bin/user/info"


async def test_user_batch_info(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    users = [wx.add_user(app.appid) for _ in range(3)]
    infos = await client.user.batch_info([u.openid for u in users])
    assert [i["openid"] for i in infos] == [u.openid for u in users]
    with pytest.raises(ValueError, match="1 to 100"):
        await client.user.batch_info([])


# --- QR codes -------------------------------------------------------------------------------------


async def test_qrcode_temporary_string_scene(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    qr = await client.qrcode.create("invite-42", expire_seconds=600)
    assert qr.expire_seconds == 600
    recorded = wx.qrcode(qr.ticket)
    assert (recorded.action_name, recorded.scene_str) == ("QR_STR_SCENE", "invite-42")
    assert recorded.url == qr.url
    # the ticket is URL-encoded in the image URL (defect D20) and decodes back exactly
    query = parse_qs(urlsplit(qr.image_url).query)
    assert query["ticket"] == [qr.ticket]
    assert qr.image_url == client.qrcode.showqrcode_url(qr.ticket)
    image = await client.qrcode.image(qr.ticket)
    assert image.startswith(b"\xff\xd8")  # a JPEG


async def test_qrcode_kinds(wx: OfficialAccountSimulator, client: MpApiClient) -> None:
    temp_id = await client.qrcode.create(123)
    perm_id = await client.qrcode.create(7, permanent=True)
    perm_str = await client.qrcode.create("shop", permanent=True)
    actions = [wx.qrcode(q.ticket).action_name for q in (temp_id, perm_id, perm_str)]
    assert actions == ["QR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"]
    assert temp_id.expire_seconds == 60  # WeChat's default when omitted
    assert perm_id.expire_seconds is None
    assert wx.qrcode(temp_id.ticket).scene_id == 123


def test_showqrcode_url_encodes_the_ticket(client: MpApiClient) -> None:
    url = client.qrcode.showqrcode_url("gQH4+a/b==")
    assert url.endswith("/cgi-bin/showqrcode?ticket=gQH4%2Ba%2Fb%3D%3D")


@pytest.mark.parametrize(
    ("scene", "kwargs"),
    [
        (0, {}),
        (2**31, {}),
        (0, {"permanent": True}),
        (100_001, {"permanent": True}),
        ("", {}),
        ("x" * 65, {}),
        (1, {"expire_seconds": 2_592_001}),
        (1, {"permanent": True, "expire_seconds": 60}),
    ],
)
async def test_qrcode_arguments_are_checked_before_sending(
    wx: OfficialAccountSimulator, client: MpApiClient, scene: int | str, kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages differ per case
        await client.qrcode.create(scene, **kwargs)  # type: ignore[arg-type]
    assert wx.calls("/cgi-bin/qrcode/create") == ()


# --- messages -------------------------------------------------------------------------------------


async def test_send_template(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    template_id = wx.add_template(app.appid)
    msgid = await client.message.send_template(
        user.openid,
        template_id,
        {"first": "你好", "amount": 1000000, "remark": {"value": "r", "color": "#f00"}},
        url="https://example.com/order/1",
        client_msg_id="order-1",
    )
    (sent,) = wx.template_messages(app.appid, user.openid)
    assert sent.msgid == msgid
    assert sent.data == {
        "first": {"value": "你好"},
        "amount": {"value": "1000000"},
        "remark": {"value": "r", "color": "#f00"},
    }
    assert sent.url == "https://example.com/order/1"
    assert sent.client_msg_id == "order-1"


async def test_send_template_unknown_template_is_40037(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    with pytest.raises(WeChatApiError) as caught:
        await client.message.send_template(user.openid, "no-such-template", {"a": "b"})
    assert caught.value.errcode == 40037


async def test_send_subscribe_uses_up_the_grant(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    template_id = wx.add_subscribe_template(app.appid)
    wx.grant_subscription(app.appid, user.openid, template_id)
    await client.message.send_subscribe(
        user.openid, template_id, {"thing1": "已发货"}, page="https://example.com/p"
    )
    (sent,) = wx.subscribe_messages(app.appid, user.openid)
    assert sent.data == {"thing1": {"value": "已发货"}}
    assert sent.page == "https://example.com/p"
    with pytest.raises(WeChatApiError) as caught:
        await client.message.send_subscribe(user.openid, template_id, {"thing1": "again"})
    assert caught.value.errcode == 43101


async def test_send_custom_every_type(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    wx.configure(enforce_custom_window=False, enforce_custom_quota=False)
    openid = wx.add_user(app.appid).openid
    image = wx.add_media(app.appid, "image").media_id
    voice = wx.add_media(app.appid, "voice").media_id
    video = wx.add_media(app.appid, "video").media_id
    thumb = wx.add_media(app.appid, "thumb").media_id
    m = client.message
    await m.send_text(openid, "hello", kf_account="kf2001@gh_test")
    await m.send_image(openid, image)
    await m.send_voice(openid, voice)
    await m.send_video(openid, video, thumb_media_id=thumb, title="t", description="d")
    await m.send_music(openid, thumb_media_id=thumb, music_url="https://example.com/m.mp3")
    await m.send_news(openid, Article("title", "desc", "https://example.com", "https://e.com/p"))
    await m.send_mpnews(openid, image)
    await m.send_msgmenu(openid, [("101", "yes"), ("102", "no")], head_content="happy?")
    await m.send_miniprogrampage(
        openid, title="t", appid="wx1111111111111111", pagepath="pages/i", thumb_media_id=thumb
    )
    sent = wx.custom_messages(app.appid, openid)
    assert [s.msgtype for s in sent] == [
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "msgmenu",
        "miniprogrampage",
    ]
    assert sent[0].body["text"] == {"content": "hello"}
    assert sent[0].kf_account == "kf2001@gh_test"
    assert sent[5].body["news"] == {
        "articles": [
            {
                "title": "title",
                "description": "desc",
                "url": "https://example.com",
                "picurl": "https://e.com/p",
            }
        ]
    }
    assert sent[7].body["msgmenu"] == {
        "head_content": "happy?",
        "list": [{"id": "101", "content": "yes"}, {"id": "102", "content": "no"}],
        "tail_content": "",
    }


async def test_send_custom_outside_the_window_is_45015(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    openid = wx.add_user(app.appid).openid
    with pytest.raises(WeChatApiError) as caught:
        await client.message.send_text(openid, "nobody asked")
    assert caught.value.errcode == 45015
    wx.open_window(app.appid, openid)
    await client.message.send_text(openid, "now they did")
    assert [s.body["text"] for s in wx.custom_messages(app.appid, openid)] == [
        {"content": "now they did"}
    ]


# --- JS-SDK ---------------------------------------------------------------------------------------


async def test_jsapi_signature_matches_the_official_vectors(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    wx.issue_ticket(app.appid, ticket=J_TICKET)
    assert await client.jsapi.ticket() == J_TICKET
    j1 = await client.jsapi.sign(
        "http://mp.weixin.qq.com?params=value", noncestr=J_NONCE, timestamp=J_TIMESTAMP
    )
    assert j1.signature == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    j2 = await client.jsapi.sign(
        "https://example.com/pay/index.html?order=42&from=menu#/confirm",
        noncestr=J_NONCE,
        timestamp=J_TIMESTAMP,
    )
    assert j2.signature == "65fc2b5419a951afc9f1eda0281ecddea5048485"
    assert j2.url == "https://example.com/pay/index.html?order=42&from=menu"
    assert j2.wx_config() == {
        "appId": app.appid,
        "timestamp": J_TIMESTAMP,
        "nonceStr": J_NONCE,
        "signature": j2.signature,
    }
    assert len(wx.calls("/cgi-bin/ticket/getticket")) == 1  # cached


async def test_jsapi_sign_defaults_pass_wx_config(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    page = "https://example.com/a?b=c#frag"
    signed = await client.jsapi.sign(page)
    assert isinstance(signed, JsapiSignature)
    assert len(signed.noncestr) == 16
    assert signed.noncestr.isalnum()
    again = await client.jsapi.sign(page)
    assert again.noncestr != signed.noncestr
    check = wx.verify_jssdk(
        url=page,
        noncestr=signed.noncestr,
        timestamp=signed.timestamp,
        signature=signed.signature,
        appid=app.appid,
    )
    assert check.ok, check.reason
    assert not check.signed_with_fragment
    ticket = await client.jsapi.ticket()
    string1 = (
        f"jsapi_ticket={ticket}&noncestr={signed.noncestr}&timestamp={signed.timestamp}"
        "&url=https://example.com/a?b=c"
    )
    assert signed.signature == hashlib.sha1(string1.encode()).hexdigest()  # noqa: S324


async def test_jsapi_ticket_cached_until_it_expires(
    wx: OfficialAccountSimulator, client: MpApiClient, clock: FakeClock
) -> None:
    first = await client.jsapi.ticket()
    clock.advance(7200 - 290)  # inside the margin: asked again, WeChat hands back the same
    assert await client.jsapi.ticket() == first
    for _ in range(20):  # ... and nobody asks again for a while
        assert await client.jsapi.ticket() == first
    assert len(wx.calls("/cgi-bin/ticket/getticket")) == 2
    clock.advance(291)  # expired on WeChat's side too: a new one
    second = await client.jsapi.ticket()
    assert second != first
    assert len(wx.calls("/cgi-bin/ticket/getticket")) == 3


# --- OAuth ----------------------------------------------------------------------------------------


async def test_oauth_code_used_twice_is_answered_from_the_cache(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    code = wx.issue_oauth_code(app.appid, scope="snsapi_userinfo")
    first = await client.oauth.exchange_code(code.code)
    second = await client.oauth.exchange_code(code.code)  # WeChat's double redirect
    assert second == first
    assert first.openid == code.openid
    assert first.scopes == {"snsapi_userinfo"}
    assert len(wx.calls("/sns/oauth2/access_token")) == 1
    assert client.oauth.exchange_count == 1


async def test_oauth_code_reused_without_the_cache_is_40163(
    wx: OfficialAccountSimulator, app: AppConfig, make_client: ClientFactory
) -> None:
    code = wx.issue_oauth_code(app.appid)
    uncached = make_client(oauth_code_ttl_s=0)
    await uncached.oauth.exchange_code(code.code)
    with pytest.raises(WeChatApiError) as caught:
        await uncached.oauth.exchange_code(code.code)
    assert caught.value.errcode == 40163


async def test_oauth_cache_expires(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient, clock: FakeClock
) -> None:
    code = wx.issue_oauth_code(app.appid)
    await client.oauth.exchange_code(code.code)
    clock.advance(301)
    with pytest.raises(WeChatApiError) as caught:
        await client.oauth.exchange_code(code.code)
    assert caught.value.errcode in (40163, 40029)


async def test_oauth_concurrent_double_redirect_makes_one_exchange(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    code = wx.issue_oauth_code(app.appid)
    a, b = await asyncio.gather(
        client.oauth.exchange_code(code.code), client.oauth.exchange_code(code.code)
    )
    assert a == b
    assert len(wx.calls("/sns/oauth2/access_token")) == 1


async def test_oauth_bad_code_is_40029(client: MpApiClient) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await client.oauth.exchange_code("not-a-code")
    assert caught.value.errcode == 40029


async def test_oauth_userinfo_refresh_and_check(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    code = wx.issue_oauth_code(app.appid, scope="snsapi_userinfo")
    token = await client.oauth.exchange_code(code.code)
    info = await client.oauth.userinfo(token.access_token, token.openid)
    assert info["openid"] == token.openid
    assert await client.oauth.check(token.access_token, token.openid)
    refreshed = await client.oauth.refresh(token.refresh_token)
    assert refreshed.openid == token.openid
    assert refreshed.access_token
    assert not await client.oauth.check("x" * 40, token.openid)


async def test_oauth_base_scope_cannot_read_userinfo(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    code = wx.issue_oauth_code(app.appid, scope="snsapi_base")
    token = await client.oauth.exchange_code(code.code)
    with pytest.raises(WeChatApiError) as caught:
        await client.oauth.userinfo(token.access_token, token.openid)
    assert caught.value.errcode == 48001


def test_oauth_authorize_url(client: MpApiClient) -> None:
    url = client.oauth.authorize_url(
        "https://gw.example.com/redirect?x=1", scope="snsapi_userinfo", state="menu1"
    )
    assert url.endswith("#wechat_redirect")
    parts = urlsplit(url)
    assert parts.path == "/connect/oauth2/authorize"
    assert parts.query.split("&")[0].startswith("appid=")
    assert [kv.split("=")[0] for kv in parts.query.split("&")] == [
        "appid",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ]
    assert parse_qs(parts.query)["redirect_uri"] == ["https://gw.example.com/redirect?x=1"]


# --- shop -----------------------------------------------------------------------------------------


async def test_shop_order_and_refund_detail_keep_big_ids_exact(
    wx: OfficialAccountSimulator, make_client: ClientFactory
) -> None:
    shop = wx.create_app(is_shop=True)
    client = make_client(appid=shop.appid)
    order = wx.create_order(shop.appid, order_id=3705115058471208928)
    aftersale = wx.create_aftersale(shop.appid, order.order_id)
    assert order.order_id > 2**53
    detail = await client.shop.order_detail(order.order_id)
    assert detail["order_id"] == "3705115058471208928"
    by_string = await client.shop.order_detail("3705115058471208928")
    assert by_string == detail
    refund = await client.shop.refund_detail(aftersale.after_sale_order_id)
    assert str(refund["after_sale_order_id"]) == str(aftersale.after_sale_order_id)
    assert str(refund["order_id"]) == str(order.order_id)
    with pytest.raises(TypeError):
        await client.shop.order_detail(3.705115058471209e18)  # type: ignore[arg-type]


async def test_shop_api_on_a_plain_account_is_48001(
    wx: OfficialAccountSimulator, client: MpApiClient
) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await client.shop.order_detail(1)
    assert caught.value.errcode == 48001


# --- media ----------------------------------------------------------------------------------------


async def test_media_upload(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    data = b"\xff\xd8\xff\xe0" + b"x" * 1000 + b"\xff\xd9"
    uploaded = await client.media.upload("image", data, filename="a.jpg", content_type="image/jpeg")
    assert uploaded.type == "image"
    stored = {m.media_id: m for m in wx.media(app.appid)}
    assert stored[uploaded.media_id].data == data
    assert uploaded.created_at == int(wx.now())


async def test_media_upload_too_large_is_refused_locally(
    wx: OfficialAccountSimulator, client: MpApiClient
) -> None:
    with pytest.raises(MediaTooLargeError):
        await client.media.upload("thumb", b"x" * (64 * 1024 + 1), filename="t.jpg")
    assert wx.calls("/cgi-bin/media/upload") == ()


# --- shorturl -------------------------------------------------------------------------------------


async def test_short_url_is_a_clear_error(
    wx: OfficialAccountSimulator, client: MpApiClient
) -> None:
    with pytest.raises(ApiDiscontinuedError, match="discontinued"):
        await client.short_url("https://example.com/a/very/long/url")
    assert wx.calls("/cgi-bin/shorturl") == ()


# --- the escape hatch -----------------------------------------------------------------------------


async def test_call_reaches_other_token_apis(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    data = await client.call("GET", "/cgi-bin/user/info", params={"openid": user.openid})
    assert data["openid"] == user.openid
