"""run_polling against the simulator: order, backoff schedule, -14, handler errors, stopping."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from weixin_gateway._backoff import PollBackoffConfig
from weixin_gateway._clock import FakeClock
from weixin_gateway.errors import SessionExpiredError
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.wire import WeixinMessage
from weixin_gateway.simulator import FaultPlan, SimBot, Simulator

from .conftest import requests_to


async def wait_for_polls(sim: Simulator, count: int) -> None:
    for _ in range(500):
        if len(requests_to(sim, "getupdates")) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} getupdates requests")


async def test_messages_are_handled_in_order(sim: Simulator, bot: SimBot) -> None:
    stop = asyncio.Event()
    seen: list[str] = []

    async def handler(msg: WeixinMessage) -> None:
        seen.append(msg.text)
        if msg.text == "1":
            sim.inject_message(bot.bot_id, text="3")  # arrives with the next poll
        if msg.text == "3":
            stop.set()

    sim.inject_message(bot.bot_id, text="1")
    sim.inject_message(bot.bot_id, text="2")
    async with WeixinClient.from_account(bot, clock=FakeClock()) as client:
        await asyncio.wait_for(client.run_polling(handler, stop_event=stop), 10)
        assert seen == ["1", "2", "3"]
        assert client.cursor


@pytest.mark.parametrize(
    ("failures", "sleeps"),
    [(5, [2.0, 2.0, 30.0, 2.0, 2.0]), (7, [2.0, 2.0, 30.0, 2.0, 2.0, 30.0, 2.0])],
)
async def test_backoff_schedule(
    sim: Simulator, bot: SimBot, failures: int, sleeps: list[float]
) -> None:
    sim.add_fault(FaultPlan(kind="status", route="getupdates", status=500, count=failures))
    sim.inject_message(bot.bot_id, text="finally")
    stop = asyncio.Event()
    seen: list[str] = []

    async def handler(msg: WeixinMessage) -> None:
        seen.append(msg.text)
        stop.set()

    clock = FakeClock()
    async with WeixinClient.from_account(bot, clock=clock) as client:
        await asyncio.wait_for(client.run_polling(handler, stop_event=stop), 10)
    assert clock.sleeps == sleeps
    assert seen == ["finally"]
    assert len(requests_to(sim, "getupdates")) == failures + 1


async def test_custom_backoff_and_success_resets_the_count(sim: Simulator, bot: SimBot) -> None:
    sim.add_fault(FaultPlan(kind="status", route="getupdates", status=524, count=1))
    stop = asyncio.Event()
    polls = 0

    async def handler(msg: WeixinMessage) -> None:
        nonlocal polls
        polls += 1
        if polls == 1:
            sim.add_fault(FaultPlan(kind="status", route="getupdates", status=500, count=2))
            sim.inject_message(bot.bot_id, text="second")
        else:
            stop.set()

    sim.inject_message(bot.bot_id, text="first")
    clock = FakeClock()
    config = PollBackoffConfig(short=1.0, long=9.0, threshold=2)
    async with WeixinClient.from_account(bot, clock=clock) as client:
        await asyncio.wait_for(client.run_polling(handler, backoff=config, stop_event=stop), 10)
    assert clock.sleeps == [1.0, 1.0, 9.0]  # 1 failure, success, then 2 failures


async def test_session_expired_hook(sim: Simulator, bot: SimBot) -> None:
    calls: list[SessionExpiredError] = []

    async def on_expired(exc: SessionExpiredError) -> bool:
        calls.append(exc)
        return len(calls) < 2  # keep polling once, then stop

    async def handler(msg: WeixinMessage) -> None:
        raise AssertionError("no messages expected")

    sim.expire_bot(bot.bot_id)
    async with WeixinClient.from_account(bot, clock=FakeClock()) as client:
        await asyncio.wait_for(client.run_polling(handler, on_session_expired=on_expired), 10)
    assert len(calls) == 2
    assert calls[0].code == -14


async def test_session_expired_during_a_held_poll(sim: Simulator, bot: SimBot) -> None:
    sim.configure(hold_seconds=30)
    hook_calls: list[int] = []

    def on_expired(exc: SessionExpiredError) -> None:  # a plain function works too
        hook_calls.append(exc.code)

    async def handler(msg: WeixinMessage) -> None:
        pass

    async with WeixinClient.from_account(bot) as client:
        task = asyncio.create_task(client.run_polling(handler, on_session_expired=on_expired))
        await wait_for_polls(sim, 1)
        sim.expire_bot(bot.bot_id)
        await asyncio.wait_for(task, 5)
    assert hook_calls == [-14]


class StoppingClock(FakeClock):
    """A fake clock that sets an event when asked to sleep for ``at`` seconds."""

    def __init__(self, stop: asyncio.Event, at: float) -> None:
        super().__init__()
        self.stop = stop
        self.at = at

    async def sleep(self, seconds: float) -> None:
        if seconds == self.at:
            self.stop.set()
        await super().sleep(seconds)


async def test_without_a_hook_the_loop_pauses_an_hour(sim: Simulator, bot: SimBot) -> None:
    stop = asyncio.Event()
    clock = StoppingClock(stop, 3600.0)

    async def handler(msg: WeixinMessage) -> None:
        pass

    sim.expire_bot(bot.bot_id)
    async with WeixinClient.from_account(bot, clock=clock) as client:
        await asyncio.wait_for(client.run_polling(handler, stop_event=stop), 10)
    assert clock.sleeps == [3600.0]


async def test_handler_errors_are_logged_and_the_batch_goes_on(
    sim: Simulator, bot: SimBot, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    seen: list[str] = []

    async def handler(msg: WeixinMessage) -> None:
        seen.append(msg.text)
        if msg.text == "bad":
            raise ValueError("handler bug")

    async def stop_during_the_next_poll() -> None:
        await wait_for_polls(sim, 2)
        stop.set()

    for text in ("ok-1", "bad", "ok-2"):
        sim.inject_message(bot.bot_id, text=text)
    clock = FakeClock()
    async with WeixinClient.from_account(bot, clock=clock) as client:
        watcher = asyncio.create_task(stop_during_the_next_poll())
        with caplog.at_level(logging.ERROR, logger="weixin_gateway.ilink.client"):
            await asyncio.wait_for(client.run_polling(handler, stop_event=stop), 10)
        await watcher
    assert seen == ["ok-1", "bad", "ok-2"]
    assert clock.sleeps == [2.0]  # the failed batch counts as one failure
    assert len(requests_to(sim, "getupdates")) == 2  # not redelivered: the cursor moved on
    assert "message handler failed" in caplog.text
    assert "handler bug" in caplog.text


async def test_cancel_mid_long_poll_is_prompt(sim: Simulator, bot: SimBot) -> None:
    sim.configure(hold_seconds=30)

    async def handler(msg: WeixinMessage) -> None:
        pass

    async with WeixinClient.from_account(bot) as client:
        task = asyncio.create_task(client.run_polling(handler))
        await wait_for_polls(sim, 1)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 3.0
        # the client is still usable after the abandoned poll
        sim.configure(hold_seconds=0.2)
        assert (await client.poll()).msgs == []


async def test_stop_event_mid_long_poll_returns_promptly(sim: Simulator, bot: SimBot) -> None:
    sim.configure(hold_seconds=30)
    stop = asyncio.Event()

    async def handler(msg: WeixinMessage) -> None:
        pass

    async with WeixinClient.from_account(bot) as client:
        task = asyncio.create_task(client.run_polling(handler, stop_event=stop))
        await wait_for_polls(sim, 1)
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 5)
        assert time.monotonic() - started < 3.0
        assert client.cursor == ""  # the abandoned poll did not move the cursor


async def test_cancel_during_backoff_sleep(sim: Simulator, bot: SimBot) -> None:
    sim.add_fault(FaultPlan(kind="status", route="getupdates", status=500, count=None))

    async def handler(msg: WeixinMessage) -> None:
        pass

    async with WeixinClient.from_account(bot) as client:  # the real clock: a 2 s sleep
        task = asyncio.create_task(client.run_polling(handler))
        await wait_for_polls(sim, 1)
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 3.0
    assert len(requests_to(sim, "getupdates")) == 1


async def test_undecodable_and_dropped_replies_count_as_failures(
    sim: Simulator, bot: SimBot
) -> None:
    """A proxy's HTML page and a dropped connection are failures like a 5xx, not crashes."""
    sim.add_fault(FaultPlan(kind="garbage", route="getupdates", count=2))
    sim.add_fault(FaultPlan(kind="drop", route="getupdates", count=1))
    sim.inject_message(bot.bot_id, text="through")
    stop = asyncio.Event()
    seen: list[str] = []

    async def handler(msg: WeixinMessage) -> None:
        seen.append(msg.text)
        stop.set()

    clock = FakeClock()
    async with WeixinClient.from_account(bot, clock=clock) as client:
        await asyncio.wait_for(client.run_polling(handler, stop_event=stop), 10)
    assert clock.sleeps == [2.0, 2.0, 30.0]
    assert seen == ["through"]


async def test_a_hook_that_keeps_the_stale_token_is_paced(sim: Simulator, bot: SimBot) -> None:
    """True without a new token must not poll a -14 at full speed."""
    sim.expire_bot(bot.bot_id)
    calls = 0

    async def keep_going(exc: SessionExpiredError) -> bool:
        nonlocal calls
        calls += 1
        return calls < 3

    async def handler(msg: WeixinMessage) -> None:
        raise AssertionError("no message expected")

    clock = FakeClock()
    async with WeixinClient.from_account(bot, clock=clock) as client:
        await asyncio.wait_for(client.run_polling(handler, on_session_expired=keep_going), 10)
    assert calls == 3
    assert clock.sleeps == [2.0, 2.0]


async def test_a_hook_that_sets_a_new_token_continues_at_once(sim: Simulator, bot: SimBot) -> None:
    fresh = sim.create_bot()
    sim.expire_bot(bot.bot_id)
    sim.inject_message(fresh.bot_id, text="on the new token")
    stop = asyncio.Event()
    seen: list[str] = []
    clock = FakeClock()

    async with WeixinClient.from_account(bot, clock=clock) as client:

        async def relogin(exc: SessionExpiredError) -> bool:
            client.api.token = fresh.bot_token
            return True

        async def handler(msg: WeixinMessage) -> None:
            seen.append(msg.text)
            stop.set()

        await asyncio.wait_for(
            client.run_polling(handler, on_session_expired=relogin, stop_event=stop), 10
        )
    assert seen == ["on the new token"]
    assert clock.sleeps == []


async def test_a_repeated_idle_answer_is_not_decoded_again(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    """Idle polls answered with the same bytes give back the very same (frozen) result; a
    message, and the idle answer after it (a new cursor), each give a new one."""
    sim.configure(hold_seconds=0.05)
    first = await client.poll()
    again = await client.poll()
    assert not first.msgs
    assert again is first
    assert again.response is first.response
    sim.inject_message(bot.bot_id, text="wake up")
    busy = await client.poll()
    assert [m.text for m in busy.msgs] == ["wake up"]
    assert busy.cursor != first.cursor
    idle = await client.poll()
    assert idle is not first
    assert not idle.msgs
    assert idle.cursor == busy.cursor
    assert await client.poll() is idle
    assert await client.poll(cursor=first.cursor) is not idle  # another cursor, another answer
