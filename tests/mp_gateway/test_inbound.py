"""Inbound checks: URL verification, signatures, crypto, size and XML limits, routing — bad
input is a short 4xx, never a stack trace (§1, §2.4, §6.2, §6.3; D4, D8, D9, D10, D23, D28)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from tests.mp_gateway.conftest import Sink, StartGateway, service_conf
from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.signature import msg_signature, url_signature
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator, messages

TEXT_XML = (
    "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o_user]]>"
    "</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[hi]]></Content><MsgId>1234567890</MsgId></xml>"
)


def _query(
    app: AppConfig, *, encrypt: str | None = None, timestamp: str | None = None, **extra: str
) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    nonce = "12345"
    query = {
        "signature": url_signature(app.token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": "o_user",
    }
    if encrypt is not None:
        query["encrypt_type"] = "aes"
        query["msg_signature"] = msg_signature(app.token, ts, nonce, encrypt)
    query.update(extra)
    return query


def _safe_body(app: AppConfig, encrypt: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{app.gh_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )


async def _post(url: str, query: dict[str, str], body: str | bytes) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, params=query, data=body) as resp,
    ):
        return resp.status, await resp.text(), resp.headers


async def test_url_verification(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url)])
    ok = await wx.verify_url(app.appid, echostr="5837397520665436492")
    assert ok.ok
    assert ok.body == "5837397520665436492"
    bad = await wx.verify_url(app.appid, bad_signature=True)
    assert not bad.ok
    assert (bad.status, bad.body) == (400, "invalid signanure\n")

    async with aiohttp.ClientSession() as session:
        async with session.get(gw.base_url + "/wx") as resp:
            assert (resp.status, await resp.text()) == (400, "argument expected\n")
        async with session.get(gw.base_url + "/wx", params=_query(app)) as resp:
            assert (resp.status, await resp.text()) == (200, "hello, this is handler view")
    assert sink.requests == []


async def test_timestamp_window_when_timeout_is_set(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url, timeout=60)])
    url = gw.base_url + "/wx"
    stale = str(int(time.time()) - 600)
    future = str(int(time.time()) + 600)
    assert (await _post(url, _query(app, timestamp=stale), TEXT_XML))[:2] == (
        400,
        "signature expired\n",
    )
    status, body, _ = await _post(url, _query(app, timestamp=future), TEXT_XML)
    assert status == 400
    assert "future" in body
    assert (await _post(url, _query(app, timestamp="soon"), TEXT_XML))[:2] == (
        400,
        "invalid timestamp\n",
    )
    assert (await _post(url, _query(app), TEXT_XML))[:2] == (200, "success")
    assert len(sink.requests) == 1


async def test_malformed_encrypted_bodies_get_a_short_4xx_and_never_a_trace(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """go-wx-gateway answered a 16-byte ciphertext with 500 and the goroutine stack (D4)."""
    app = wx.create_app(mode="safe")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url)])
    url = gw.base_url + "/wx"
    other = MsgCrypto(
        token=app.token, encoding_aes_key=app.encoding_aes_key, app_id="wx0000000000000000"
    )
    cases = {
        "AAAAAAAAAAAAAAAAAAAAAA==": 400,  # 16 bytes
        "@@@@": 400,  # not base64
        other.encrypt(TEXT_XML): 400,  # made for another AppID (D9)
        MsgCrypto(token=app.token, encoding_aes_key=app.encoding_aes_key, app_id=app.appid).encrypt(
            "<notxml>"
        ): 400,
    }
    for encrypt, expected in cases.items():
        status, body, headers = await _post(
            url, _query(app, encrypt=encrypt), _safe_body(app, encrypt)
        )
        assert status == expected, encrypt
        assert len(body) < 60
        assert "Traceback" not in body
        assert "goroutine" not in body
        assert headers["Content-Type"].startswith("text/plain")

    encrypt = other.encrypt(TEXT_XML)
    query = _query(app, encrypt=encrypt)
    query["msg_signature"] = "0" * 40
    assert (await _post(url, query, _safe_body(app, encrypt)))[:2] == (403, "bad signature\n")
    assert (await _post(url, _query(app, encrypt="x"), "<xml><ToUserName>a</ToUserName></xml>"))[
        0
    ] == 400
    assert sink.requests == []


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>not wechat</body></html>",  # crashed go-wx-gateway's process (D8)
        "not xml at all",
        '<!DOCTYPE xml [<!ENTITY x "boom">]><xml><MsgType>&x;</MsgType></xml>',
        "<xml><ToUserName>a</ToUserName></xml>",  # no MsgType
    ],
)
async def test_bad_plaintext_bodies_are_refused(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway, body: str
) -> None:
    app = wx.create_app(mode="plain")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url)])
    status, text, _ = await _post(gw.base_url + "/wx", _query(app), body)
    assert (status, text) == (400, "invalid message body\n")
    # the gateway is still alive and well
    assert (
        await wx.user_says(app.appid, wx.add_user(app.appid).openid, "hi")
    ).verdict == "no_reply"


async def test_size_cap_raw_and_unsupported_encryption(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="plain")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url)], **{"max-body-bytes": 2048})
    url = gw.base_url + "/wx"
    huge = TEXT_XML.replace("hi", "x" * 5000)
    assert (await _post(url, _query(app), huge))[:2] == (413, "request body too large\n")
    assert (await _post(url, _query(app, encrypt_type="rot13"), TEXT_XML))[:2] == (
        403,
        "unsupported encrypted method\n",
    )
    # encrypt_type=raw is documented plaintext (go-wx-gateway refused it, D10)
    assert (await _post(url, _query(app, encrypt_type="raw"), TEXT_XML))[:2] == (200, "success")
    wx.configure(push_encrypt_type_raw=True)
    assert (
        await wx.user_says(app.appid, wx.add_user(app.appid).openid, "hi")
    ).verdict == "no_reply"


async def test_require_encryption_refuses_plaintext_pushes(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    gw = await start_gateway(
        [service_conf(app, proxy=sink.base_url, **{"require-encryption": True})]
    )
    assert (await _post(gw.base_url + "/wx", _query(app), TEXT_XML))[0] == 403
    result = await wx.user_says(app.appid, wx.add_user(app.appid).openid, "hi")
    assert result.verdict == "no_reply"
    assert len(sink.requests) == 1


async def test_several_services_with_exact_paths(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """go-wx-gateway matched service paths as prefixes: /wx swallowed /wx2 (defect D23)."""
    first = wx.create_app(mode="safe")
    second = wx.create_app(mode="plain")
    gw = await start_gateway(
        [
            service_conf(first, name="one", path="/wx", proxy=sink.base_url + "/one"),
            service_conf(second, name="two", path="/wx2", proxy=sink.base_url + "/two"),
        ]
    )
    for app in (first, second):
        assert (await wx.verify_url(app.appid)).ok
        result = await wx.user_says(app.appid, wx.add_user(app.appid).openid, "hi")
        assert result.verdict == "no_reply"
    assert [r.path for r in sink.requests] == ["/one/msg/text", "/two/msg/text"]

    async with aiohttp.ClientSession() as session:
        for path in ("/wx/", "/wxqr", "/wx/redirect"):
            async with session.get(gw.base_url + path, params=_query(first)) as resp:
                assert (resp.status, await resp.text()) == (404, "404 page not found\n"), path
        async with session.put(gw.base_url + "/wx", data=b"x") as resp:
            assert (resp.status, await resp.read()) == (405, b"")


async def test_messages_to_an_unknown_user_and_system_events_still_forward(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    app = wx.create_app(mode="safe")
    await start_gateway([service_conf(app, proxy=sink.base_url)])
    result = await wx.mass_send_finished(app.appid)
    assert result.verdict == "no_reply"
    body = sink.at("/event/MASSSENDJOBFINISH")[0].json
    assert body["userInfo"] is None
    assert body["userInfoError"] == ""
    user = wx.add_user(app.appid)
    await wx.unfollow(app.appid, user.openid)
    body = sink.at("/event/unsubscribe")[0].json
    assert body["userInfo"]["openid"] == user.openid
    assert body["userInfo"]["subscribe"] == 0
    assert wx.calls("/cgi-bin/user/info") == ()
    await wx.push(app.appid, user.openid, messages.text("hi again"))
    assert len(wx.calls("/cgi-bin/user/info")) == 1


async def test_huge_numbers_are_a_4xx_never_a_500(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """int() refuses numbers over 4,300 digits; such input must not crash the handler (review)."""
    app = wx.create_app(mode="plain")
    gw = await start_gateway([service_conf(app, proxy=sink.base_url, timeout=60)])
    url = gw.base_url + "/wx"
    huge = "9" * 5000
    status, body, _ = await _post(url, _query(app, timestamp=huge), TEXT_XML)
    assert 400 <= status < 500
    assert "Traceback" not in body
    long_id = TEXT_XML.replace("<MsgId>", "<MsgId>" + huge)
    long_id = long_id.replace("</xml>", f"<Scale>{huge}</Scale><Count>{huge}</Count></xml>")
    status, body, _ = await _post(url, _query(app), long_id)
    assert status == 200
    assert body == "success"
    assert len(sink.requests) == 1  # forwarded, not lost to an exception in forward_body
