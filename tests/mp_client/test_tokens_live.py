"""Access-token behaviour against the simulator: reuse, expiry, rejection, concurrency, modes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.errors import NetworkError
from weixin_gateway.mp.client import MpApiClient
from weixin_gateway.mp.errors import WeChatApiError
from weixin_gateway.mp.tokens import FileTokenStore, MemoryTokenStore
from weixin_gateway.simulator.mp import OfficialAccountSimulator
from weixin_gateway.simulator.mp.config import AppConfig
from weixin_gateway.simulator.mp.faults import ApiFaultPlan

from .conftest import ClientFactory

STABLE = "/cgi-bin/stable_token"
CLASSIC = "/cgi-bin/token"
USER_INFO = "/cgi-bin/user/info"


def _stable_bodies(wx: OfficialAccountSimulator) -> list[dict[str, object]]:
    return [json.loads(c.body) for c in wx.calls(STABLE)]


async def test_token_fetched_once_and_reused(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    for _ in range(3):
        await client.user.info(user.openid)
    assert len(wx.calls(STABLE)) == 1
    assert wx.calls(CLASSIC) == ()
    tokens = {c.access_token for c in wx.calls(USER_INFO)}
    assert len(tokens) == 1
    assert _stable_bodies(wx)[0]["force_refresh"] is False


async def test_classic_mode_uses_cgi_bin_token(
    wx: OfficialAccountSimulator, app: AppConfig, make_client: ClientFactory
) -> None:
    client = make_client(token_mode="classic")
    user = wx.add_user(app.appid)
    await client.user.info(user.openid)
    await client.user.info(user.openid)
    (call,) = wx.calls(CLASSIC)
    assert call.method == "GET"
    assert call.query["grant_type"] == "client_credential"
    assert wx.calls(STABLE) == ()
    assert {t.kind for t in wx.tokens(app.appid)} == {"classic"}


async def test_refresh_shortly_before_expiry(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient, clock: FakeClock
) -> None:
    user = wx.add_user(app.appid)
    await client.user.info(user.openid)
    clock.advance(7200 - 10 - 281)  # 281 s of life left by our count: keep it
    await client.user.info(user.openid)
    assert len(wx.calls(STABLE)) == 1
    clock.advance(2)  # 279 s left (289 s by WeChat's count, after its 300 s roll-over)
    await client.user.info(user.openid)
    assert len(wx.calls(STABLE)) == 2
    first, second, third = (c.access_token for c in wx.calls(USER_INFO))
    assert first == second != third
    assert all(c.errcode == 0 for c in wx.calls(USER_INFO))
    # the old stable token was still valid: nobody was refused on the way
    assert wx.token_state(first or "") == "valid"


@pytest.mark.parametrize("mode", ["stable", "classic"])
async def test_invalidated_token_one_refresh_one_retry(
    wx: OfficialAccountSimulator, app: AppConfig, make_client: ClientFactory, mode: str
) -> None:
    client = make_client(token_mode=mode)
    user = wx.add_user(app.appid)
    await client.user.info(user.openid)
    wx.invalidate_tokens(app.appid)
    info = await client.user.info(user.openid)
    assert info["openid"] == user.openid
    calls = wx.calls(USER_INFO)
    assert [c.errcode for c in calls] == [0, 40001, 0]
    assert len(wx.calls(STABLE if mode == "stable" else CLASSIC)) == 2
    if mode == "stable":
        # the store still held the rejected token, so a new one was fetched -- normally:
        # force_refresh would kill the token of every other holder
        assert [b["force_refresh"] for b in _stable_bodies(wx)] == [False, False]


async def test_expired_token_42001_one_refresh_one_retry(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    await client.user.info(user.openid)
    wx.expire_token(wx.calls(USER_INFO)[0].access_token or "")
    await client.user.info(user.openid)
    assert [c.errcode for c in wx.calls(USER_INFO)] == [0, 42001, 0]
    assert len(wx.calls(STABLE)) == 2


async def test_persistent_token_error_is_retried_once_only(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    wx.add_fault(ApiFaultPlan("errcode", path=USER_INFO, count=None, errcode=40001))
    with pytest.raises(WeChatApiError) as caught:
        await client.user.info(user.openid)
    assert caught.value.errcode == 40001
    assert caught.value.token_invalid
    assert len(wx.calls(USER_INFO)) == 2  # the call and one retry
    # the first token, then one refresh: stable_token still called the rejected token current,
    # so -- as the last resort of §5.2 -- force_refresh was asked for, once
    assert [b["force_refresh"] for b in _stable_bodies(wx)] == [False, False, True]
    assert len({c.access_token for c in wx.calls(USER_INFO)}) == 2


async def test_persistent_token_error_in_classic_mode(
    wx: OfficialAccountSimulator, app: AppConfig, make_client: ClientFactory
) -> None:
    client = make_client(token_mode="classic")
    wx.add_fault(ApiFaultPlan("errcode", path=USER_INFO, count=None, errcode=42001))
    with pytest.raises(WeChatApiError) as caught:
        await client.user.info(wx.add_user(app.appid).openid)
    assert caught.value.errcode == 42001
    assert len(wx.calls(USER_INFO)) == 2
    assert len(wx.calls(CLASSIC)) == 2


async def test_other_errors_are_not_retried(
    wx: OfficialAccountSimulator, client: MpApiClient
) -> None:
    with pytest.raises(WeChatApiError) as caught:
        await client.user.info("o_unknown_user_xxxxxxxxxxxxxx")
    assert caught.value.errcode == 40003
    assert len(wx.calls(USER_INFO)) == 1
    assert len(wx.calls(STABLE)) == 1


async def test_bad_secret_is_an_api_error_not_a_retry_loop(
    wx: OfficialAccountSimulator, app: AppConfig, make_client: ClientFactory
) -> None:
    client = make_client(secret="wrong-secret-000000000000000000")
    with pytest.raises(WeChatApiError) as caught:
        await client.user.info("o_anyone")
    assert caught.value.errcode == 40125
    assert len(wx.calls(STABLE)) == 1
    assert wx.calls(USER_INFO) == ()


async def test_fifty_concurrent_calls_one_token_request(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    wx.add_fault(ApiFaultPlan("latency", path=STABLE, count=None, latency_ms=100))
    async with asyncio.timeout(20):
        infos = await asyncio.gather(*(client.user.info(user.openid) for _ in range(50)))
    assert {i["openid"] for i in infos} == {user.openid}
    assert len(wx.calls(STABLE)) == 1
    assert len(wx.calls(USER_INFO)) == 50


async def test_fifty_concurrent_rejections_one_refresh(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    await client.user.info(user.openid)
    wx.invalidate_tokens(app.appid)
    wx.add_fault(ApiFaultPlan("latency", path=STABLE, count=None, latency_ms=100))
    async with asyncio.timeout(20):
        await asyncio.gather(*(client.user.info(user.openid) for _ in range(50)))
    assert len(wx.calls(STABLE)) == 2
    assert len([c for c in wx.calls(USER_INFO) if c.errcode == 40001]) == 50


@pytest.mark.parametrize("store_kind", ["memory", "file"])
async def test_two_clients_sharing_a_store_fetch_once(
    wx: OfficialAccountSimulator,
    app: AppConfig,
    make_client: ClientFactory,
    tmp_path: Path,
    store_kind: str,
) -> None:
    store = MemoryTokenStore() if store_kind == "memory" else FileTokenStore(tmp_path)
    a, b = make_client(token_store=store), make_client(token_store=store)
    user = wx.add_user(app.appid)
    wx.add_fault(ApiFaultPlan("latency", path=STABLE, count=None, latency_ms=100))
    async with asyncio.timeout(20):
        await asyncio.gather(*(c.user.info(user.openid) for c in (a, b, a, b)))
    assert len(wx.calls(STABLE)) == 1
    # one client's refresh after a rejection is found by the other: no second fetch
    wx.invalidate_tokens(app.appid)
    await a.user.info(user.openid)
    await b.user.info(user.openid)
    assert len(wx.calls(STABLE)) == 2
    assert [c.errcode for c in wx.calls(USER_INFO)][-4:] == [40001, 0, 40001, 0]


async def test_file_store_written_in_go_layout(
    wx: OfficialAccountSimulator,
    app: AppConfig,
    make_client: ClientFactory,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    client = make_client(token_store=FileTokenStore(tmp_path))
    await client.access_token()
    await client.jsapi.ticket()
    token_file = json.loads((tmp_path / app.appid).read_text())
    ticket_file = json.loads((tmp_path / f"{app.appid}.ticket").read_text())
    (issued,) = [t for t in wx.tokens(app.appid) if t.kind == "stable"]
    now = int(clock.time())
    assert token_file == {"expire": now + 7200 - 10, "token": issued.token, "fetched_at": now}
    assert list(token_file)[:2] == ["expire", "token"]  # go-wx-gateway's keys, in its order
    assert set(ticket_file) == {"expire", "ticket", "fetched_at"}
    assert ticket_file["ticket"] == await client.jsapi.ticket()


async def test_a_token_left_by_go_wx_gateway_is_taken_over(
    wx: OfficialAccountSimulator,
    app: AppConfig,
    make_client: ClientFactory,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    issued = wx.issue_token(app.appid, "classic")
    (tmp_path / app.appid).write_text(
        json.dumps({"expire": int(clock.time()) + 3000, "token": issued.token})
    )
    client = make_client(token_store=FileTokenStore(tmp_path))
    user = wx.add_user(app.appid)
    await client.user.info(user.openid)
    assert wx.calls(STABLE) == ()
    assert wx.calls(CLASSIC) == ()
    assert wx.calls(USER_INFO)[0].access_token == issued.token


async def test_token_endpoint_failure_is_a_transport_error_and_not_cached(
    wx: OfficialAccountSimulator, app: AppConfig, client: MpApiClient
) -> None:
    user = wx.add_user(app.appid)
    wx.add_fault(ApiFaultPlan("reset", path=STABLE, count=1))
    with pytest.raises(NetworkError):
        await client.user.info(user.openid)
    await client.user.info(user.openid)
    assert len(wx.calls(STABLE)) == 2
