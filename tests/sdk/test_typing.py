"""The typing indicator against the simulator (ilink.md §8): ticket cache, keepalive, cancel."""

from __future__ import annotations

import asyncio

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.simulator import FaultPlan, SimBot, Simulator

from .conftest import bodies, requests_to


def statuses(sim: Simulator, bot: SimBot) -> list[int]:
    return [event.status for event in sim.typing(bot.bot_id)]


async def test_send_and_cancel_typing_use_one_cached_ticket(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    assert await client.send_typing(bot.user_id, context_token="ctx")
    assert await client.send_typing(bot.user_id)
    assert await client.cancel_typing(bot.user_id)
    assert statuses(sim, bot) == [1, 1, 2]
    assert len(requests_to(sim, "getconfig")) == 1
    ticket = sim.typing_ticket(bot.bot_id, bot.user_id)
    assert bodies(sim, "sendtyping")[0] == {
        "ilink_user_id": bot.user_id,
        "typing_ticket": ticket,
        "status": 1,
        "base_info": {"channel_version": "2.4.9", "bot_agent": "OpenClaw"},
    }
    other = sim.create_user()
    assert await client.send_typing(other.user_id)
    assert len(requests_to(sim, "getconfig")) == 2  # one per user


async def test_no_ticket_means_nothing_is_sent(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.add_fault(FaultPlan(kind="status", route="getconfig", status=500))
    assert not await client.send_typing(bot.user_id)
    async with client.typing(bot.user_id) as indicator:
        assert not indicator.active
    assert requests_to(sim, "sendtyping") == []
    assert len(requests_to(sim, "getconfig")) == 1  # the failure is cached for 2 s


async def test_typing_context_sends_one_then_cancel(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    async with client.typing(bot.user_id, "ctx") as indicator:
        assert statuses(sim, bot) == [1]  # at once, before the body runs
        assert indicator.active
    assert statuses(sim, bot) == [1, 2]
    assert indicator.cancel_sent
    assert not indicator.active


async def test_keepalive_cadence_and_60_s_limit(sim: Simulator, bot: SimBot) -> None:
    clock = FakeClock()
    client = WeixinClient.from_account(bot, clock=clock)
    async with client, client.typing(bot.user_id) as indicator:
        for _ in range(200):  # the keepalive runs on the fake clock: let it finish
            await asyncio.sleep(0.01)
            if not indicator.active:
                break
        assert not indicator.active
    # status 1 at 0 s, then every 5 s up to (not including) 60 s, then one cancel
    assert statuses(sim, bot) == [1] * 12 + [2]
    assert clock.sleeps == [5.0] * 12
    assert indicator.typing_sent == 12


async def test_keepalive_with_real_time(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    async with client.typing(bot.user_id, interval=0.1, max_duration=0.35) as indicator:
        for _ in range(300):  # the body outlives the keepalive
            await asyncio.sleep(0.01)
            if not indicator.active:
                break
        assert not indicator.active
    events = statuses(sim, bot)
    assert events[-1] == 2
    assert events.count(2) == 1
    assert 2 <= events.count(1) <= 4  # at 0 s and every 0.1 s below 0.35 s (timing allowing)


async def test_keepalive_stops_after_two_failures(sim: Simulator, bot: SimBot) -> None:
    clock = FakeClock()
    async with WeixinClient.from_account(bot, clock=clock) as client:
        await client.typing_tickets.get(bot.user_id)
        sim.add_fault(FaultPlan(kind="status", route="sendtyping", status=502, count=3))
        async with client.typing(bot.user_id) as indicator:
            for _ in range(100):
                await asyncio.sleep(0.01)
                if not indicator.active:
                    break
            assert not indicator.active
    # the first status 1 and one keepalive failed: stop; the cancel fails too (3rd fault)
    assert len(requests_to(sim, "sendtyping")) == 3
    assert indicator.failures == 2
    assert not indicator.cancel_sent
    assert statuses(sim, bot) == []


async def test_cancel_is_sent_once_when_the_body_raises(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    with pytest.raises(RuntimeError, match="agent crashed"):
        async with client.typing(bot.user_id):
            raise RuntimeError("agent crashed")
    assert statuses(sim, bot) == [1, 2]


async def test_cancel_is_sent_once_when_the_task_is_cancelled(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    entered = asyncio.Event()

    async def reply() -> None:
        async with client.typing(bot.user_id, interval=0.05):
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(reply())
    await asyncio.wait_for(entered.wait(), 5)
    for _ in range(200):  # until the keepalive has run at least once (bounded: 10 s)
        if statuses(sim, bot).count(1) >= 2:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    events = statuses(sim, bot)
    assert events.count(2) == 1
    assert events[-1] == 2
    assert events.count(1) >= 2  # the keepalive ran
    await asyncio.sleep(0.2)
    assert statuses(sim, bot) == events  # nothing after the cancel
