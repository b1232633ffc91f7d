"""Access tokens: classic rotation with a 5-minute grace, stable tokens, quotas, token checks."""

from __future__ import annotations

import re

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.simulator.mp import AppConfig, OfficialAccountSimulator
from weixin_gateway.simulator.mp.api import API_ROUTES

from .conftest import WeChatApi

#: Every API that needs an access_token.
PROTECTED = {
    name: route
    for name, route in API_ROUTES.items()
    if route[1].startswith(("/cgi-bin/", "/channels/"))
    and name not in ("token", "stable_token", "showqrcode")
}
RID = re.compile(r" rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{10}$")


async def _classic(api: WeChatApi, app: AppConfig, **override: str) -> dict[str, object]:
    params = {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret}
    params.update(override)
    answer = await api.get("/cgi-bin/token", params)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json; encoding=utf-8"
    data = answer.json()
    assert isinstance(data, dict)
    return data


async def _stable(api: WeChatApi, app: AppConfig, force: bool = False) -> dict[str, object]:
    body = {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret}
    if force:
        body["force_refresh"] = True  # type: ignore[assignment]
    data = (await api.post("/cgi-bin/stable_token", body)).json()
    assert isinstance(data, dict)
    return data


async def _probe(api: WeChatApi, token: str) -> int:
    """The errcode ``getticket`` answers with ``token`` (0 when accepted)."""
    data = await api.call("/cgi-bin/ticket/getticket", token, type="jsapi")
    return int(data["errcode"])


async def test_classic_token_rotates_with_a_five_minute_grace(
    api: WeChatApi, app: AppConfig, clock: FakeClock
) -> None:
    first = await _classic(api, app)
    assert set(first) == {"access_token", "expires_in"}
    assert first["expires_in"] == 7200
    second = await _classic(api, app)
    assert second["access_token"] != first["access_token"]
    assert await _probe(api, str(first["access_token"])) == 0  # grace period
    clock.advance(299)
    assert await _probe(api, str(first["access_token"])) == 0
    clock.advance(1)
    data = await api.call("/cgi-bin/ticket/getticket", str(first["access_token"]), type="jsapi")
    assert data["errcode"] == 40001
    assert data["errmsg"].startswith("invalid credential, access_token is invalid or not latest")
    assert RID.search(data["errmsg"])
    assert await _probe(api, str(second["access_token"])) == 0


async def test_only_the_newest_and_one_grace_token_are_valid(
    api: WeChatApi, app: AppConfig
) -> None:
    tokens = [str((await _classic(api, app))["access_token"]) for _ in range(3)]
    assert [await _probe(api, t) for t in tokens] == [40001, 0, 0]


async def test_classic_token_expires(api: WeChatApi, app: AppConfig, clock: FakeClock) -> None:
    token = str((await _classic(api, app))["access_token"])
    clock.advance(7200)
    assert await _probe(api, token) == 42001


@pytest.mark.parametrize(
    ("override", "errcode"),
    [
        ({"grant_type": "password"}, 40002),
        ({"appid": ""}, 41002),
        ({"appid": "wx0000000000000000"}, 40013),
        ({"secret": ""}, 41004),
        ({"secret": "wrong"}, 40125),
    ],
)
async def test_token_endpoint_validation(
    api: WeChatApi, app: AppConfig, override: dict[str, str], errcode: int
) -> None:
    data = await _classic(api, app, **override)
    assert data["errcode"] == errcode
    assert RID.search(str(data["errmsg"]))


async def test_token_endpoint_account_states(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig
) -> None:
    wx.configure(legacy_bad_secret_errcode=True)
    assert (await _classic(api, app, secret="wrong"))["errcode"] == 40001
    wx.update_app(app.appid, frozen_secret=True)
    assert (await _classic(api, app))["errcode"] == 40243
    wx.update_app(app.appid, frozen_secret=False, ip_allowlist=["10.0.0.1"])
    refused = await _classic(api, app)
    assert refused["errcode"] == 40164
    assert str(refused["errmsg"]).startswith(
        "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist"
    )
    wx.update_app(app.appid, ip_allowlist=["127.0.0.1"], ip_risk=True)
    assert (await _classic(api, app))["errcode"] == 89503
    wx.update_app(app.appid, ip_risk=False)
    assert "access_token" in await _classic(api, app)


async def test_classic_daily_and_minute_quotas(
    wx: OfficialAccountSimulator, api: WeChatApi, clock: FakeClock
) -> None:
    app = wx.create_app(token_daily_quota=3, token_minute_quota=2)
    assert "access_token" in await _classic(api, app)
    assert "access_token" in await _classic(api, app)
    assert (await _classic(api, app))["errcode"] == 45011
    clock.advance(60)
    assert "access_token" in await _classic(api, app)
    limited = await _classic(api, app)
    assert limited["errcode"] == 45009
    assert str(limited["errmsg"]).startswith("reach max api daily quota limit")
    clock.advance(86400)
    assert "access_token" in await _classic(api, app)


async def test_stable_token_is_stable_then_rolls(
    api: WeChatApi, app: AppConfig, clock: FakeClock
) -> None:
    first = await _stable(api, app)
    assert first["expires_in"] == 7200
    clock.advance(1000)
    again = await _stable(api, app)
    assert again == {"access_token": first["access_token"], "expires_in": 6200}
    clock.advance(6200 - 300)  # 300 s left: roll
    rolled = await _stable(api, app)
    assert rolled["access_token"] != first["access_token"]
    assert rolled["expires_in"] == 7200
    assert await _probe(api, str(first["access_token"])) == 0  # lives until its own expiry
    clock.advance(300)
    assert await _probe(api, str(first["access_token"])) == 42001
    assert await _probe(api, str(rolled["access_token"])) == 0


async def test_force_refresh_kills_at_once_and_is_limited(
    wx: OfficialAccountSimulator, api: WeChatApi, clock: FakeClock
) -> None:
    app = wx.create_app(force_refresh_daily=2)
    first = await _stable(api, app)
    forced = await _stable(api, app, force=True)
    assert forced["access_token"] != first["access_token"]
    assert forced["expires_in"] == 7200
    assert await _probe(api, str(first["access_token"])) == 40001
    clock.advance(10)
    assert (await _stable(api, app, force=True))["errcode"] == 45009  # < 30 s apart
    clock.advance(30)
    assert "access_token" in await _stable(api, app, force=True)
    clock.advance(60)
    assert (await _stable(api, app, force=True))["errcode"] == 45009  # 2 per day
    wx.configure(force_refresh_errcode=45011)
    assert (await _stable(api, app, force=True))["errcode"] == 45011


async def test_classic_and_stable_pools_are_isolated(api: WeChatApi, app: AppConfig) -> None:
    stable = str((await _stable(api, app))["access_token"])
    for _ in range(3):
        await _classic(api, app)
    assert await _probe(api, stable) == 0
    classic = str((await _classic(api, app))["access_token"])
    await _stable(api, app, force=True)
    assert await _probe(api, classic) == 0


@pytest.mark.parametrize(
    ("method", "content_type", "body"),
    [
        ("GET", None, None),
        ("POST", "application/x-www-form-urlencoded", b"grant_type=client_credential"),
        ("POST", "application/json", b"not json"),
        ("POST", "application/json", b'{"grant_type":"client_credential","force_refresh":"yes"}'),
    ],
)
async def test_stable_token_wants_a_json_post(
    api: WeChatApi, app: AppConfig, method: str, content_type: str | None, body: bytes | None
) -> None:
    if method == "GET":
        answer = await api.get("/cgi-bin/stable_token")
    else:
        assert content_type is not None
        assert body is not None
        body = body.replace(
            b'"force', f'"appid":"{app.appid}","secret":"{app.secret}","force'.encode()
        )
        answer = await api.post(
            "/cgi-bin/stable_token", data=body, headers={"Content-Type": content_type}
        )
    assert answer.json()["errcode"] == 47001


@pytest.mark.parametrize("route", sorted(PROTECTED))
async def test_every_protected_api_checks_the_token(
    wx: OfficialAccountSimulator, api: WeChatApi, app: AppConfig, clock: FakeClock, route: str
) -> None:
    method, path = PROTECTED[route]

    async def errcode(token: str | None) -> int:
        params = {} if token is None else {"access_token": token}
        if method == "GET":
            answer = await api.get(path, params)
        else:
            answer = await api.post(path, {}, params=params)
        return int(answer.json()["errcode"])

    assert await errcode(None) == 41001
    assert await errcode("") == 41001
    assert await errcode("bad token!") == 40014
    assert await errcode("x" * 40) == 40001
    stable = wx.issue_token(app.appid, "stable")
    assert await errcode(stable.token) not in (41001, 40014, 40001, 42001)
    classic = wx.issue_token(app.appid)
    assert await errcode(classic.token) not in (41001, 40014, 40001, 42001)
    wx.expire_token(classic.token)
    assert await errcode(classic.token) == 42001
    wx.invalidate_tokens(app.appid)
    assert await errcode(stable.token) == 40001
    code = wx.issue_oauth_code(app.appid)
    answer = await api.get(
        "/sns/oauth2/access_token",
        {
            "appid": app.appid,
            "secret": app.secret,
            "code": code.code,
            "grant_type": "authorization_code",
        },
    )
    web_token = str(answer.json()["access_token"])
    assert await errcode(web_token) == 40001  # web tokens are not accepted by /cgi-bin APIs


async def test_wrong_method_on_an_api(
    api: WeChatApi, app: AppConfig, wx: OfficialAccountSimulator
) -> None:
    token = wx.issue_token(app.appid).token
    answer = await api.get("/cgi-bin/message/custom/send", {"access_token": token})
    assert answer.json()["errcode"] == 43002
    answer = await api.post("/cgi-bin/user/info", {}, params={"access_token": token})
    assert answer.json()["errcode"] == 43001


async def test_per_api_rate_limits(
    wx: OfficialAccountSimulator, api: WeChatApi, clock: FakeClock
) -> None:
    app = wx.create_app(api_quotas={"getticket": 2}, api_minute_quota=3)
    token = wx.issue_token(app.appid).token
    assert [await _probe(api, token) for _ in range(3)] == [0, 0, 45009]
    user = wx.add_user(app.appid)
    codes = []
    for _ in range(4):
        data = await api.call("/cgi-bin/user/info", token, openid=user.openid)
        codes.append(data.get("errcode", 0))
    assert codes == [0, 0, 0, 45011]
    clock.advance(60)
    assert (await api.call("/cgi-bin/user/info", token, openid=user.openid))["subscribe"] == 1
