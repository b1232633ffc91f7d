"""QR login against the simulator: every status of ilink.md §4.3, driven from its control side."""

from __future__ import annotations

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.errors import LoginError
from weixin_gateway.ilink import AlreadyBoundError, ILinkApi, QrLogin, login_with_qr
from weixin_gateway.simulator import FaultPlan, Simulator


def _qrcode_of(url: str) -> str:
    return url.split("qrcode=", 1)[1].split("&", 1)[0]


async def test_happy_path_returns_the_confirmed_bot(sim: Simulator) -> None:
    statuses: list[str] = []
    shown: list[str] = []

    def on_qrcode(url: str) -> None:
        shown.append(url)
        sim.scan(_qrcode_of(url))

    def on_status(status: str) -> None:
        statuses.append(status)
        if status == "scaned":
            sim.confirm(_qrcode_of(shown[-1]))

    result = await login_with_qr(
        base_url=sim.base_url, on_qrcode=on_qrcode, on_status=on_status, clock=FakeClock()
    )
    [bot] = sim.bots()
    assert result.account_id == bot.bot_id
    assert result.bot_token == bot.bot_token
    assert result.base_url == sim.base_url
    assert result.user_id == bot.user_id
    assert statuses == ["scaned", "confirmed"]
    assert len(shown) == 1
    assert bot.bot_token not in repr(result)


async def test_pair_code_wrong_then_right(sim: Simulator) -> None:
    asked: list[bool] = []
    codes = iter(["11", "42"])
    qrcodes: list[str] = []

    def on_qrcode(url: str) -> None:
        qrcodes.append(_qrcode_of(url))
        sim.scan(qrcodes[-1])
        sim.require_verify_code(qrcodes[-1], "42")

    def on_verify_code(retry: bool) -> str:
        asked.append(retry)
        return next(codes)

    def on_status(status: str) -> None:
        if status == "scaned":
            sim.confirm(qrcodes[-1])

    result = await login_with_qr(
        base_url=sim.base_url,
        on_qrcode=on_qrcode,
        on_status=on_status,
        on_verify_code=on_verify_code,
        clock=FakeClock(),
    )
    assert result.account_id
    assert asked == [False, True]
    sent_codes = [
        dict(r.query).get("verify_code") for r in sim.requests if r.route == "get_qrcode_status"
    ]
    assert "11" in sent_codes
    assert "42" in sent_codes


async def test_blocked_pair_code_refreshes_the_qr_code(sim: Simulator) -> None:
    async with ILinkApi(sim.base_url) as api:
        login = QrLogin(api, clock=FakeClock())
        first = _qrcode_of(await login.start())
        sim.scan(first)
        sim.require_verify_code(first, "42")
        assert await login.poll() == "need_verifycode"
        for _ in range(3):
            login.submit_verify_code("00")
            status = await login.poll()
        assert status == "verify_code_blocked"
        assert login.qr_count == 2
        assert login.qrcode != first


async def test_redirect_switches_the_polling_host_only(sim: Simulator) -> None:
    other_host = f"localhost:{sim.port}"
    qrcodes: list[str] = []

    def on_qrcode(url: str) -> None:
        qrcodes.append(_qrcode_of(url))
        sim.scan(qrcodes[-1])

    def on_status(status: str) -> None:
        if status == "scaned":
            sim.redirect(qrcodes[-1], other_host)
        elif status == "scaned_but_redirect":
            sim.confirm(qrcodes[-1])

    result = await login_with_qr(
        base_url=sim.base_url, on_qrcode=on_qrcode, on_status=on_status, clock=FakeClock()
    )
    assert result.account_id
    polls = [r.host for r in sim.requests if r.route == "get_qrcode_status"]
    assert polls[0] == f"127.0.0.1:{sim.port}"
    assert polls[-1] == other_host
    creates = [r.host for r in sim.requests if r.route == "get_bot_qrcode"]
    assert set(creates) == {f"127.0.0.1:{sim.port}"}


async def test_three_expired_qr_codes_end_the_login(sim: Simulator) -> None:
    shown: list[str] = []

    def on_qrcode(url: str) -> None:
        shown.append(url)
        sim.expire_qr(_qrcode_of(url))

    with pytest.raises(LoginError, match="no QR codes left"):
        await login_with_qr(base_url=sim.base_url, on_qrcode=on_qrcode, clock=FakeClock())
    assert len(shown) == 3
    assert len({_qrcode_of(u) for u in shown}) == 3
    assert [r.route for r in sim.requests].count("get_bot_qrcode") == 3


async def test_binded_redirect_means_already_bound(sim: Simulator) -> None:
    def on_qrcode(url: str) -> None:
        sim.bind_qr(_qrcode_of(url))

    with pytest.raises(AlreadyBoundError):
        await login_with_qr(base_url=sim.base_url, on_qrcode=on_qrcode, clock=FakeClock())


async def test_local_tokens_let_the_server_recognise_a_bound_bot(sim: Simulator) -> None:
    user = sim.create_user()
    bot = sim.create_bot(user.user_id)
    async with ILinkApi(sim.base_url) as api:
        login = QrLogin(api, local_tokens=[bot.bot_token], clock=FakeClock())
        qrcode = _qrcode_of(await login.start())
        sim.scan(qrcode, user.user_id)
        with pytest.raises(AlreadyBoundError):
            await login.poll()


async def test_network_errors_count_as_wait(sim: Simulator) -> None:
    sim.add_fault(FaultPlan(kind="drop", route="get_qrcode_status", count=2))
    sim.add_fault(FaultPlan(kind="status", route="get_qrcode_status", status=524, count=1))
    async with ILinkApi(sim.base_url) as api:
        login = QrLogin(api, clock=FakeClock())
        qrcode = _qrcode_of(await login.start())
        assert [await login.poll() for _ in range(3)] == ["wait", "wait", "wait"]
        sim.scan(qrcode)
        assert await login.poll() == "scaned"
        sim.confirm(qrcode)
        assert await login.poll() == "confirmed"
        assert login.result is not None


async def test_overall_deadline(sim: Simulator) -> None:
    clock = FakeClock()
    with pytest.raises(LoginError, match="timed out"):
        await login_with_qr(base_url=sim.base_url, timeout=3, clock=clock)
    assert clock.sleeps
    assert all(s == 1.0 for s in clock.sleeps)


async def test_qr_older_than_its_ttl_is_replaced(sim: Simulator) -> None:
    clock = FakeClock()
    async with ILinkApi(sim.base_url) as api:
        login = QrLogin(api, clock=clock, qr_ttl=300)
        first = await login.start()
        clock.advance(301)
        assert await login.poll() == "expired"
        assert login.qrcode_url != first
        assert login.qr_count == 2


async def test_pair_code_without_a_callback_is_a_clear_error(sim: Simulator) -> None:
    def on_qrcode(url: str) -> None:
        sim.scan(_qrcode_of(url))
        sim.require_verify_code(_qrcode_of(url), "1")

    with pytest.raises(LoginError, match="on_verify_code"):
        await login_with_qr(base_url=sim.base_url, on_qrcode=on_qrcode, clock=FakeClock())


async def test_poll_before_start_is_refused(sim: Simulator) -> None:
    async with ILinkApi(sim.base_url) as api:
        with pytest.raises(LoginError, match="start"):
            await QrLogin(api).poll()


async def test_a_pair_code_given_while_a_poll_is_held_is_not_lost(sim: Simulator) -> None:
    import asyncio

    async with ILinkApi(sim.base_url) as api:
        login = QrLogin(api, clock=FakeClock())
        qrcode = _qrcode_of(await login.start())
        sim.scan(qrcode)
        sim.require_verify_code(qrcode, "42")
        assert await login.poll() == "need_verifycode"
        held = asyncio.ensure_future(login.poll())  # carries no code; the server holds it
        await asyncio.sleep(0.1)
        login.submit_verify_code("42")
        assert await held == "need_verifycode"
        assert login.verify_code == "42"  # not judged by a poll that did not carry it
        assert not login.verify_code_rejected
        assert await login.poll() == "scaned"
