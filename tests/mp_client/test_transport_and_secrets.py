"""Transport failures map to the error tree; secrets never show in reprs, errors or logs."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from weixin_gateway.errors import (
    ApiError,
    DecodeError,
    HttpStatusError,
    NetworkError,
    RequestTimeoutError,
    TransportError,
)
from weixin_gateway.mp.client import (
    MpApiClient,
    MpClientConfig,
    MpTimeouts,
    WeChatApiError,
    raise_for_errcode,
)
from weixin_gateway.mp.errors import MpError
from weixin_gateway.mp.tokens import FileTokenStore
from weixin_gateway.simulator.mp import ApiFaultPlan, OfficialAccountSimulator
from weixin_gateway.simulator.mp.config import AppConfig

from .conftest import ClientFactory

USER_INFO = "/cgi-bin/user/info"


def test_errcode_check() -> None:
    raise_for_errcode("x", {"access_token": "t", "expires_in": 7200})  # absent = success
    raise_for_errcode("x", {"errcode": 0, "errmsg": "ok"})
    with pytest.raises(WeChatApiError) as caught:
        raise_for_errcode("cgi-bin/x", {"errcode": 45009, "errmsg": "reach max api daily quota"})
    err = caught.value
    assert (err.errcode, err.errmsg, err.endpoint) == (
        45009,
        "reach max api daily quota",
        "cgi-bin/x",
    )
    assert isinstance(err, ApiError)
    assert isinstance(err, MpError)
    assert not isinstance(err, TransportError)
    assert str(err) == "cgi-bin/x: errcode 45009: reach max api daily quota"
    with pytest.raises(WeChatApiError) as caught:
        raise_for_errcode("x", {"errcode": "40001"})
    assert caught.value.token_invalid


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        (ApiFaultPlan("status", path=USER_INFO, status=502), HttpStatusError),
        # aiohttp itself resends an idempotent request once when a pooled connection drops
        (ApiFaultPlan("reset", path=USER_INFO, count=2), NetworkError),
        (ApiFaultPlan("non_json", path=USER_INFO), DecodeError),
        (ApiFaultPlan("errcode", path=USER_INFO, errcode=-1), WeChatApiError),
    ],
)
async def test_failures_map_to_the_error_tree(
    wx: OfficialAccountSimulator,
    app: AppConfig,
    client: MpApiClient,
    plan: ApiFaultPlan,
    error: type[Exception],
) -> None:
    openid = wx.add_user(app.appid).openid
    wx.add_fault(plan)
    with pytest.raises(error):
        await client.user.info(openid)
    # none of these is a token problem: no refresh, no retry of ours
    assert len(wx.calls("/cgi-bin/stable_token")) == 1
    assert len(wx.calls(USER_INFO)) == (plan.count or 1)
    assert wx.faults() == ()
    await client.user.info(openid)  # and the client is fine afterwards


async def test_timeouts_are_enforced(
    wx: OfficialAccountSimulator, app: AppConfig, make_client: ClientFactory
) -> None:
    client = make_client(timeouts=MpTimeouts(connect=1, request=0.2))
    openid = wx.add_user(app.appid).openid
    await client.access_token()
    wx.add_fault(ApiFaultPlan("latency", path=USER_INFO, latency_ms=2000))
    with pytest.raises(RequestTimeoutError, match=r"cgi-bin/user/info timed out after 0\.2 s"):
        await client.user.info(openid)


async def test_unreachable_server_is_a_network_error(http: aiohttp.ClientSession) -> None:
    client = MpApiClient(
        "wx0123456789abcdef",
        "the-app-secret-value",
        api_base_url="http://127.0.0.1:9",  # discard port: nothing listens
        session=http,
        config=MpClientConfig(timeouts=MpTimeouts(connect=1, request=2)),
    )
    with pytest.raises(NetworkError) as caught:
        await client.user.info("o")
    assert "the-app-secret-value" not in str(caught.value)


@pytest.mark.parametrize("mode", ["stable", "classic"])
async def test_no_secret_in_reprs_errors_or_logs(
    wx: OfficialAccountSimulator,
    app: AppConfig,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = FileTokenStore(tmp_path)
    client = make_client(token_store=store, token_mode=mode)
    user = wx.add_user(app.appid)
    errors: list[BaseException] = []
    await client.user.info(user.openid)
    await client.jsapi.sign("https://example.com/")
    code = wx.issue_oauth_code(app.appid, user.openid, scope="snsapi_userinfo")
    web = await client.oauth.exchange_code(code.code)
    wx.invalidate_tokens(app.appid)
    await client.user.info(user.openid)  # 40001, refresh, retry
    for plan in (
        ApiFaultPlan("reset", path="*", count=None),
        ApiFaultPlan("status", path="*", status=500),
        ApiFaultPlan("non_json", path="*"),
    ):
        wx.add_fault(plan)
        try:
            await client.oauth.refresh(web.refresh_token)
        except Exception as exc:
            errors.append(exc)
        wx.clear_faults()
    wx.add_fault(ApiFaultPlan("reset", path="*", count=None))
    wx.invalidate_tokens(app.appid)
    try:
        await client.user.info(user.openid)  # the token endpoint's request is reset
    except Exception as exc:
        errors.append(exc)
    wx.clear_faults()
    assert [type(e) for e in errors] == [NetworkError, HttpStatusError, DecodeError, NetworkError]

    secrets = [app.secret, web.access_token, web.refresh_token, code.code]
    secrets += [t.token for t in wx.tokens(app.appid)]
    secrets.append(await client.jsapi.ticket())
    shown = [
        repr(client),
        repr(client.tokens),
        repr(client.tickets),
        repr(client.tokens.current),
        repr(client.oauth),
        repr(client.transport),
        repr(store),
        repr(web),
        str(web),
        caplog.text,
        *(str(e) for e in errors),
        *(repr(e) for e in errors),
    ]
    for secret in secrets:
        assert secret
        for text in shown:
            assert secret not in text


async def test_borrowed_session_stays_open_owned_one_is_closed(
    wx: OfficialAccountSimulator, app: AppConfig, http: aiohttp.ClientSession
) -> None:
    async with MpApiClient(
        app.appid, app.secret, api_base_url=wx.api_base_url, session=http
    ) as borrowed:
        await borrowed.access_token()
    assert not http.closed
    async with MpApiClient(app.appid, app.secret, api_base_url=wx.api_base_url) as owning:
        await owning.access_token()
        session = owning.transport.session
    assert session.closed


def test_credential_query_values_are_scrubbed_from_error_texts() -> None:
    from weixin_gateway.mp.client import _scrub

    text = (
        "GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=S3CR3T failed; "
        "/x?access_token=T0K&openid=o&refresh_token=R&code=C&ticket=T errcode=40001"
    )
    assert _scrub(text) == (
        "GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=*** failed; "
        "/x?access_token=***&openid=o&refresh_token=***&code=***&ticket=*** errcode=40001"
    )
