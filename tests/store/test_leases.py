"""Leases: one atomic statement picks the holder; expiry on the row frees a dead holder's lease."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.mp.tokens import CachedToken
from weixin_gateway.store import Leases, LeaseTimeoutError, SqlTokenStore, create_engine


async def _holder(engine: AsyncEngine, name: str) -> str | None:
    async with engine.connect() as connection:
        row = await connection.execute(
            text("SELECT holder FROM leases WHERE name = :name"), {"name": name}
        )
        holder: str | None = row.scalar_one_or_none()
        return holder


async def test_acquire_is_exclusive_and_release_frees(engine: AsyncEngine) -> None:
    leases = Leases(engine)
    assert await leases.acquire("job", "a", ttl_s=30)
    assert not await leases.acquire("job", "b", ttl_s=30)
    assert await leases.acquire("job", "a", ttl_s=30)  # the holder renews
    assert await _holder(engine, "job") == "a"
    assert not await leases.release("job", "b")  # not b's to release
    assert await _holder(engine, "job") == "a"
    assert await leases.release("job", "a")
    assert await _holder(engine, "job") is None
    assert await leases.acquire("job", "b", ttl_s=30)
    assert await leases.acquire("other", "a", ttl_s=30)  # names are independent


async def test_expired_lease_is_taken_over(engine: AsyncEngine) -> None:
    leases = Leases(engine)
    assert await leases.acquire("job", "dead", ttl_s=0.2)  # then "dead" never comes back
    assert not await leases.acquire("job", "b", ttl_s=0.2)
    await asyncio.sleep(0.25)
    assert await leases.acquire("job", "b", ttl_s=30)
    assert await _holder(engine, "job") == "b"
    assert not await leases.release("job", "dead")  # the old holder cannot free b's lease
    assert await _holder(engine, "job") == "b"


async def test_hold_waits_then_times_out(engine: AsyncEngine) -> None:
    leases = Leases(engine, poll_s=0.02)
    async with leases.hold("job", ttl_s=30) as first:
        assert await _holder(engine, "job") == first
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LeaseTimeoutError, match="'job'"):
            async with leases.hold("job", ttl_s=30, timeout_s=0.2):
                pytest.fail("two holders at once")
        assert 0.2 <= loop.time() - started < 2
    assert await _holder(engine, "job") is None


async def test_holders_take_turns(engine: AsyncEngine) -> None:
    leases = Leases(engine, poll_s=0.01)
    inside = 0
    peak = 0

    async def worker() -> None:
        nonlocal inside, peak
        async with leases.hold("job", ttl_s=10, timeout_s=10):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    async with asyncio.timeout(15):
        await asyncio.gather(*(worker() for _ in range(8)))
    assert peak == 1


async def test_dead_holder_is_replaced_by_a_waiter(engine: AsyncEngine) -> None:
    leases = Leases(engine, poll_s=0.02)
    assert await leases.acquire("job", "crashed-process", ttl_s=0.2)
    async with asyncio.timeout(5), leases.hold("job", ttl_s=30, timeout_s=3) as holder:
        assert await _holder(engine, "job") == holder


async def test_lease_is_renewed_while_held(engine: AsyncEngine) -> None:
    leases = Leases(engine, poll_s=0.02)
    async with leases.hold("job", ttl_s=1.5) as holder:  # renewed every 0.5 s
        await asyncio.sleep(2.0)  # longer than the TTL: renewed meanwhile
        assert not await leases.acquire("job", "intruder", ttl_s=1)
        assert await _holder(engine, "job") == holder


async def test_cancelled_waiter_leaves_nothing_behind(engine: AsyncEngine) -> None:
    leases = Leases(engine, poll_s=0.02)
    assert await leases.acquire("job", "a", ttl_s=30)

    async def wait() -> None:
        async with leases.hold("job", ttl_s=30, timeout_s=30):
            pytest.fail("got a held lease")

    task = asyncio.create_task(wait())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _holder(engine, "job") == "a"


async def test_no_transaction_is_held_while_waiting(engine: AsyncEngine, database_url: str) -> None:
    """While a lease is held and another caller polls for it, other writers are not blocked."""
    leases = Leases(engine, poll_s=0.02)
    other = create_engine(database_url, busy_timeout_ms=5000)
    try:
        store = SqlTokenStore(other)
        async with leases.hold("job", ttl_s=30):
            waiter = asyncio.create_task(leases.wait_acquire("job", "w", 30, timeout_s=2))
            await asyncio.sleep(0.1)
            for i in range(5):  # a write-locked SQLite would stall each for busy_timeout
                async with asyncio.timeout(1):
                    await store.put("wx1", "access_token", CachedToken(f"v{i}", 1e10))
            if engine.dialect.name == "postgresql":
                await asyncio.sleep(0.1)
                async with other.connect() as connection:
                    idle = await connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND state LIKE 'idle in transaction%' "
                            "AND pid <> pg_backend_pid() "
                            "AND clock_timestamp() - state_change > interval '50 milliseconds'"
                        )
                    )
                    assert idle.scalar_one() == 0
            assert not waiter.done()
        assert await waiter  # the waiter gets it once released
    finally:
        await other.dispose()
