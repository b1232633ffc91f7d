"""SingleFlight on its own: one job per key, the outcome kept for the TTL, bounded memory."""

from __future__ import annotations

import asyncio

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.gateway.singleflight import Flight, SingleFlight


async def test_one_job_per_key_and_the_outcome_is_kept_for_the_ttl() -> None:
    clock = FakeClock()
    flights: SingleFlight[str, int] = SingleFlight(ttl_s=30, clock=clock)
    release = asyncio.Event()
    runs = 0

    async def job(flight: Flight[int]) -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return 42

    first, started = flights.join("k", job)
    second, again = flights.join("k", job)
    assert started
    assert not again
    assert first is second
    assert not await first.wait(0.01)  # still running: the waiter gives up, the job goes on
    release.set()
    assert await second.wait(1)
    assert first.outcome() == 42
    assert flights.running == 0

    clock.advance(29)
    assert flights.join("k", job)[0] is first
    clock.advance(2)
    fresh, started = flights.join("k", job)
    assert started
    assert fresh is not first
    await fresh.wait(1)
    assert runs == 2


async def test_failed_jobs_have_no_outcome_and_memory_is_bounded() -> None:
    flights: SingleFlight[int, int] = SingleFlight(ttl_s=60, max_entries=3)

    async def boom(flight: Flight[int]) -> int:
        raise ValueError("upstream exploded")

    flight, _ = flights.join(0, boom)
    assert await flight.wait(1)
    assert flight.outcome() is None

    async def ok(flight: Flight[int]) -> int:
        return 1

    for key in range(1, 6):
        done, _ = flights.join(key, ok)
        await done.wait(1)
    assert len(flights) <= 3
    assert flights.get(5) is not None


async def test_drain_cancels_what_does_not_finish_in_time() -> None:
    flights: SingleFlight[str, int] = SingleFlight()

    async def forever(flight: Flight[int]) -> int:
        await asyncio.sleep(60)
        return 0

    flight, _ = flights.join("slow", forever)
    await flights.drain(0.05)
    assert flight.done
    assert flight.outcome() is None


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        SingleFlight(ttl_s=-1)
