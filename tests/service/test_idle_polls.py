"""Idle accounts cost as little as possible: an empty poll that changes nothing writes nothing,
and a server answering at the very end of its hold is not cut off by the client's timer.

(``benchmarks/scenarios/idle.py`` measures the effect with 10,000 accounts.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.service.api_support import ISO
from tests.service.harness import GatewayHarness, eventually
from weixin_gateway.gateway.poller import AccountPoller
from weixin_gateway.gateway.service import LONG_POLL_MARGIN_S
from weixin_gateway.simulator import Simulator, SimulatorConfig
from weixin_gateway.simulator.faults import FaultPlan


def _poller(h: GatewayHarness, account_id: str) -> AccountPoller:
    poller = h.gateway.poller_of(account_id)
    assert poller is not None
    return poller


async def _stored_poll_time(h: GatewayHarness, account_id: str) -> float | None:
    record = await h.gateway.accounts.get(account_id)
    assert record is not None
    return record.last_poll_finished_at


async def test_idle_polls_write_nothing_until_something_changes(
    harness: GatewayHarness,
) -> None:
    h = harness  # the simulator holds each poll 1 s
    account_id = await h.register()
    poller = _poller(h, account_id)
    # the first answer brings the bot's first cursor: that one is stored
    await eventually(lambda: poller.status.polls >= 1, timeout=5)
    stored_at = await _stored_poll_time(h, account_id)
    record = await h.gateway.accounts.get(account_id)
    assert record is not None
    assert record.cursor
    assert stored_at is not None

    await eventually(lambda: poller.status.polls >= 3, timeout=10)
    assert await _stored_poll_time(h, account_id) == stored_at  # two idle polls: no write
    seen = poller.status.last_poll_finished_at
    assert seen is not None
    assert seen > stored_at
    _, view = await h.call("GET", f"/accounts/{account_id}")
    assert ISO.match(view["account"]["status"]["last_poll_finished_at"])

    assert h.bot is not None
    h.sim.inject_message(h.bot.bot_id, text="wake up")
    [event] = await h.upstream.wait_events(1)
    assert event["text"] == "wake up"
    after = await h.gateway.accounts.get(account_id)
    assert after is not None
    assert after.cursor != record.cursor
    assert after.last_poll_finished_at is not None
    assert after.last_poll_finished_at > stored_at


async def test_an_idle_poll_after_a_failure_clears_the_stored_error(
    harness: GatewayHarness,
) -> None:
    h = harness
    account_id = await h.register()
    poller = _poller(h, account_id)
    await eventually(lambda: poller.status.polls >= 1, timeout=5)
    assert h.bot is not None
    h.sim.add_fault(FaultPlan(kind="status", route="getupdates", bot_id=h.bot.bot_id, status=500))

    async def stored_error() -> str:
        record = await h.gateway.accounts.get(account_id)
        assert record is not None
        return record.last_error

    async def error_cleared() -> bool:
        return await stored_error() == ""

    assert "500" in await eventually(stored_error, timeout=10)
    # after the 2 s back-off an empty poll succeeds: same cursor, but the error must go
    await eventually(error_cleared, timeout=10)
    assert poller.status.last_error == ""


async def test_a_poll_answered_at_the_end_of_the_hold_is_not_cut_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the server holds exactly as long as it tells the client to wait (WeChat: 35 s and 35 s)
    config = SimulatorConfig(hold_seconds=1.0, longpolling_timeout_ms=1000)
    caplog.set_level(logging.DEBUG, logger="weixin_gateway.ilink.api")
    async with (
        Simulator(config=config) as sim,
        GatewayHarness(tmp_path / "data", sim=sim) as h,
    ):
        account_id = await h.register()
        client = _poller(h, account_id).client
        assert client.api.config.timeouts.long_poll_margin == LONG_POLL_MARGIN_S
        await eventually(lambda: _poller(h, account_id).status.polls >= 4, timeout=15)
    timeouts = [r for r in caplog.records if "client timeout" in r.getMessage()]
    assert timeouts == []  # each answer arrived: no connection closed by our own timer


async def test_a_poller_that_ends_is_restarted_at_the_next_sync(
    harness: GatewayHarness,
) -> None:
    """The lease renewal's sync skips reading the accounts while nothing changed; a poller
    whose loop ended (here: its task cancelled from outside) counts as a change."""
    h = harness
    account_id = await h.register()
    poller = _poller(h, account_id)
    await eventually(lambda: poller.status.polls >= 1, timeout=5)
    await h.gateway.sync_pollers()  # a full sync: the table is unchanged from now on
    task = poller._task
    assert task is not None
    task.cancel()
    await eventually(lambda: not poller.running, timeout=5)
    await h.gateway.sync_pollers()
    restarted = _poller(h, account_id)
    assert restarted is not poller
    assert restarted.running
    await eventually(lambda: restarted.status.polls >= 1, timeout=5)
