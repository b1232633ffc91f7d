"""Web authorization: the simulated browser, code exchange (single use, 5 min), sns APIs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator

from .conftest import WeChatApi


def _authorize_params(app: AppConfig, **override: str) -> dict[str, str]:
    params = {
        "appid": app.appid,
        "redirect_uri": "https://gw.example.com/redirect?x=1",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "abc123",
    }
    params.update(override)
    return {k: v for k, v in params.items() if v != "<drop>"}


async def _exchange(api: WeChatApi, app: AppConfig, code: str, **override: str) -> Any:
    params = {
        "appid": app.appid,
        "secret": app.secret,
        "code": code,
        "grant_type": "authorization_code",
    }
    params.update(override)
    return (await api.get("/sns/oauth2/access_token", params)).json()


async def test_authorize_redirects_with_a_code(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig
) -> None:
    user = wx.add_user(app.appid)
    params = _authorize_params(app, sim_openid=user.openid)
    answer = await api.get("/connect/oauth2/authorize", params, allow_redirects=False)
    assert answer.status == 302
    location = urlsplit(answer.headers["Location"])
    assert location.netloc == "gw.example.com"
    assert location.path == "/redirect"
    query = parse_qs(location.query)
    assert query["x"] == ["1"]
    assert query["state"] == ["abc123"]
    code = query["code"][0]
    data = await _exchange(api, app, code)
    assert data["openid"] == user.openid
    assert data["scope"] == "snsapi_base"
    assert data["expires_in"] == 7200
    assert "refresh_token" in data
    assert "unionid" not in data
    assert "is_snapshotuser" not in data
    again = await _exchange(api, app, code)
    assert again["errcode"] == 40163
    assert again["errmsg"].startswith("code been used")
    assert wx.oauth_codes(app.appid)[0].used_at is not None


async def test_refused_userinfo_prompt_has_no_code(api: WeChatApi, app: AppConfig) -> None:
    params = _authorize_params(app, scope="snsapi_userinfo", sim_refuse="1")
    answer = await api.get("/connect/oauth2/authorize", params, allow_redirects=False)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert "code" not in query
    assert query["state"] == ["abc123"]


@pytest.mark.parametrize(
    ("override", "errcode"),
    [
        ({"appid": "<drop>"}, 10012),
        ({"redirect_uri": "<drop>"}, 10011),
        ({"scope": "<drop>"}, 10010),
        ({"scope": "snsapi_login"}, 10005),
        ({"redirect_uri": "https://evil.example.org/cb"}, 10003),
        ({"state": "not allowed!"}, 10013),
        ({"state": "a" * 129}, 10013),
    ],
)
async def test_authorize_errors_are_html_pages(
    wx: OfficialAccountSimulator,
    api: WeChatApi,
    app: AppConfig,
    override: dict[str, str],
    errcode: int,
) -> None:
    wx.update_app(app.appid, oauth_domains=["gw.example.com"])
    answer = await api.get(
        "/connect/oauth2/authorize", _authorize_params(app, **override), allow_redirects=False
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.headers["X-Sim-Errcode"] == str(errcode)
    assert str(errcode) in answer.text


async def test_code_errors(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, clock: FakeClock
) -> None:
    code = wx.issue_oauth_code(app.appid)
    assert (await _exchange(api, app, code.code, secret="nope"))["errcode"] == 40125
    assert (await _exchange(api, app, code.code, grant_type="x"))["errcode"] == 40002
    assert (await _exchange(api, app, "unknown"))["errcode"] == 40029
    assert (await _exchange(api, app, ""))["errcode"] == 41008
    other = wx.create_app()
    assert (await _exchange(api, other, code.code))["errcode"] == 40029  # another app's code
    clock.advance(300)
    assert (await _exchange(api, app, code.code))["errcode"] == 40029  # older than 5 min


async def test_userinfo_scope_and_web_token_rules(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, clock: FakeClock
) -> None:
    user = wx.add_user(app.appid, nickname="阿明")
    base = await _exchange(api, app, wx.issue_oauth_code(app.appid, user.openid).code)
    params = {"access_token": base["access_token"], "openid": user.openid, "lang": "zh_CN"}
    assert (await api.get("/sns/userinfo", params)).json()["errcode"] == 48001
    full = await _exchange(
        api, app, wx.issue_oauth_code(app.appid, user.openid, scope="snsapi_userinfo").code
    )
    assert full["unionid"] == user.unionid
    params["access_token"] = full["access_token"]
    info = (await api.get("/sns/userinfo", params)).json()
    assert info["nickname"] == "阿明"
    assert info["sex"] == 0
    assert info["privilege"] == []
    assert info["province"] == info["city"] == info["country"] == ""
    assert info["unionid"] == user.unionid
    assert "headimgurl" in info
    other_openid = {**params, "openid": "oSomeoneElse"}
    assert (await api.get("/sns/userinfo", other_openid)).json()["errcode"] == 40003
    checked = await api.get(
        "/sns/auth", {"access_token": full["access_token"], "openid": user.openid}
    )
    assert checked.json() == {"errcode": 0, "errmsg": "ok"}
    wrong = await api.get("/sns/auth", {"access_token": full["access_token"], "openid": "oX"})
    assert wrong.json()["errcode"] == 40003
    global_token = wx.issue_token(app.appid).token
    params["access_token"] = global_token
    assert (await api.get("/sns/userinfo", params)).json()["errcode"] == 40001
    clock.advance(7200)
    params["access_token"] = full["access_token"]
    assert (await api.get("/sns/userinfo", params)).json()["errcode"] == 42001


async def test_refresh_token(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, clock: FakeClock
) -> None:
    grant = await _exchange(api, app, wx.issue_oauth_code(app.appid).code)
    params = {
        "appid": app.appid,
        "grant_type": "refresh_token",
        "refresh_token": grant["refresh_token"],
    }
    refreshed = (await api.get("/sns/oauth2/refresh_token", params)).json()
    assert refreshed["access_token"] != grant["access_token"]
    assert refreshed["refresh_token"] == grant["refresh_token"]
    bad = {**params, "refresh_token": "nope"}
    assert (await api.get("/sns/oauth2/refresh_token", bad)).json()["errcode"] == 40030
    clock.advance(30 * 86400)
    assert (await api.get("/sns/oauth2/refresh_token", params)).json()["errcode"] == 42002


async def test_snapshot_user(wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig) -> None:
    params = _authorize_params(app, scope="snsapi_userinfo", sim_snapshot="1")
    answer = await api.get("/connect/oauth2/authorize", params, allow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    data = await _exchange(api, app, code)
    assert data["is_snapshotuser"] == 1
    token = wx.issue_token(app.appid).token
    info = await api.call("/cgi-bin/user/info", token, openid=data["openid"])
    assert info["errcode"] == 40003  # a virtual account


async def test_browser_double_redirect(
    wx: OfficialAccountSimulator, app: AppConfig, api: WeChatApi
) -> None:
    """The simulated browser delivers one code twice: a naive gateway then meets 40163."""
    answers: list[Any] = []

    async def landing(request: web.Request) -> web.Response:
        data = await _exchange(api, app, request.query["code"])
        answers.append(data)
        return web.Response(text=str(data.get("openid", data.get("errcode"))))

    server = web.Application()
    server.router.add_get("/redirect", landing)
    runner = web.AppRunner(server)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        result = await wx.browse_oauth(
            app.appid,
            f"http://127.0.0.1:{port}/redirect",
            state="s1",
            double=True,
            double_delay_s=0.05,
        )
    finally:
        await runner.cleanup()
    assert len(result.hits) == 2
    assert [h.status for h in result.hits] == [200, 200]
    assert "openid" in answers[0]
    assert answers[1]["errcode"] == 40163
    assert result.code is not None
    assert result.code in result.location
