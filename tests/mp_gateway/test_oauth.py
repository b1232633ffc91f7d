"""The OAuth redirect (official-account.md §6.8): code → openid → go-wx-gateway's JSON to the
redirect-url with the browser's headers and cookies, the answer relayed; double use (D26)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.mp_gateway.conftest import Sink, SinkRequest, StartGateway, service_conf
from weixin_gateway.gateway.mp_gateway import MpGatewayConfig
from weixin_gateway.simulator.mp import OfficialAccountSimulator


def _landing(request: SinkRequest) -> web.Response:
    response = web.json_response({"page": "menu"}, status=201)
    response.set_cookie("session", "abc")
    response.set_cookie("theme", "dark")
    response.headers["X-Upstream"] = "yes"
    return response


async def _gateway(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> tuple[str, str]:
    app = wx.create_app(mode="safe")
    sink.handlers["/menu"] = _landing
    gw = await start_gateway(
        [
            service_conf(
                app,
                proxy=sink.base_url,
                redirect_path="/oauth",
                **{
                    "redirect-url": sink.base_url + "/menu?from=gw",
                    "redirect-userinfo-flag": "login",
                },
            )
        ]
    )
    return app.appid, gw.base_url


async def test_redirect_forwards_the_user_and_relays_the_answer(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    appid, base = await _gateway(wx, sink, start_gateway)
    user = wx.add_user(appid, nickname="Ann")
    code = wx.issue_oauth_code(appid, user.openid, state="menu1")
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{base}/oauth",
            params={"code": code.code, "state": "menu1"},
            headers={"Cookie": "sid=42; lang=zh", "X-Custom": "v", "User-Agent": "MicroMessenger"},
            allow_redirects=False,
        ) as resp,
    ):
        assert resp.status == 201
        assert await resp.json() == {"page": "menu"}
        assert resp.headers["X-Upstream"] == "yes"
        cookies = resp.headers.getall("Set-Cookie")
        assert len(cookies) == 2
        assert any("session=abc" in c for c in cookies)

    (forwarded,) = sink.at("/menu")
    assert forwarded.method == "POST"
    assert forwarded.path_qs == "/menu?from=gw"  # redirect-url as configured, own query kept
    assert forwarded.headers["Cookie"] == "sid=42; lang=zh"
    assert forwarded.headers["X-Custom"] == "v"
    assert forwarded.headers["User-Agent"] == "MicroMessenger"
    assert forwarded.headers["X-Forwarded-For"] == "127.0.0.1"
    assert forwarded.headers["Host"] == base.removeprefix("http://")  # kept, as go did
    body = forwarded.json
    assert list(body) == ["appId", "openId", "requestURI", "state", "userInfo", "userInfoError"]
    assert body["appId"] == appid
    assert body["openId"] == user.openid
    assert body["state"] == "menu1"
    assert body["requestURI"] == f"/oauth?code={code.code}&state=menu1"
    assert body["userInfo"]["openid"] == user.openid
    assert body["userInfoError"] == ""
    assert wx.calls("/cgi-bin/user/info")  # base scope reads user/info (go leaked the token, D13)


async def test_a_code_used_twice_is_answered_from_the_cache(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    appid, base = await _gateway(wx, sink, start_gateway)
    user = wx.add_user(appid)
    result = await wx.browse_oauth(
        appid, f"{base}/oauth", openid=user.openid, state="m", double=True, double_delay_s=0.05
    )
    assert [hit.status for hit in result.hits] == [201, 201]
    assert len(wx.calls("/sns/oauth2/access_token")) == 1  # no 40163 for the second
    assert [r.json["openId"] for r in sink.at("/menu")] == [user.openid, user.openid]


async def test_userinfo_flag_uses_sns_userinfo_but_not_when_only_state_holds_it(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    appid, base = await _gateway(wx, sink, start_gateway)
    user = wx.add_user(appid, nickname="Bo")
    code = wx.issue_oauth_code(appid, user.openid, scope="snsapi_userinfo")
    async with aiohttp.ClientSession() as session:
        url = f"{base}/oauth?login&code={code.code}&state=x"
        async with session.get(url, allow_redirects=False) as resp:
            assert resp.status == 201
        assert len(wx.calls("/sns/userinfo")) == 1
        body = sink.at("/menu")[0].json
        assert body["userInfo"]["openid"] == user.openid

        # a state that merely contains the flag does not flip the scope (D26)
        code = wx.issue_oauth_code(appid, user.openid)
        url = f"{base}/oauth?code={code.code}&state=login"
        async with session.get(url, allow_redirects=False) as resp:
            assert resp.status == 201
        assert len(wx.calls("/sns/userinfo")) == 1


async def test_redirect_errors(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    _appid, base = await _gateway(wx, sink, start_gateway)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/oauth?state=x") as resp:  # refused consent: no code
            assert (resp.status, await resp.text()) == (400, "argument expected\n")
        async with session.get(f"{base}/oauth?code=bogus&state=x") as resp:
            assert resp.status == 500
            text = await resp.text()
            assert text.startswith("invalid code")
            assert "secret" not in text
    assert sink.at("/menu") == []


async def test_redirect_url_down_or_slow(
    wx: OfficialAccountSimulator, sink: Sink, start_gateway: StartGateway
) -> None:
    """go-wx-gateway had no timeout here: a hung upstream pinned a worker for good (D26)."""
    down = wx.create_app(mode="plain")
    slow = wx.create_app(mode="plain")

    async def hang(request: SinkRequest) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    sink.handlers["/slow"] = hang
    gw = await start_gateway(
        [
            service_conf(
                down,
                name="down",
                path="/wx1",
                redirect_path="/o1",
                **{"redirect-url": "http://127.0.0.1:9/menu"},
            ),
            service_conf(
                slow,
                name="slow",
                path="/wx2",
                redirect_path="/o2",
                **{"redirect-url": sink.base_url + "/slow"},
            ),
        ],
        settings=MpGatewayConfig(oauth_timeout_s=0.3, drain_timeout_s=0),
    )
    async with aiohttp.ClientSession() as session:
        code = wx.issue_oauth_code(down.appid, wx.add_user(down.appid).openid)
        async with session.get(f"{gw.base_url}/o1?code={code.code}&state=x") as resp:
            assert (resp.status, await resp.read()) == (502, b"")
        code = wx.issue_oauth_code(slow.appid, wx.add_user(slow.appid).openid)
        async with asyncio.timeout(1.5):
            async with session.get(f"{gw.base_url}/o2?code={code.code}&state=x") as resp:
                assert (resp.status, await resp.read()) == (504, b"")
