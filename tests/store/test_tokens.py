"""SqlTokenStore honours the TokenStore contract; TokenManagers sharing it fetch once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.mp.tokens import (
    ACCESS_TOKEN,
    JSAPI_TICKET,
    CachedToken,
    TokenManager,
    TokenStore,
)
from weixin_gateway.store import SqlTokenStore


def test_satisfies_the_protocol(engine: AsyncEngine) -> None:
    store: TokenStore = SqlTokenStore(engine)
    assert "SqlTokenStore(" in repr(store)


async def test_get_put_round_trip_and_overwrite(engine: AsyncEngine) -> None:
    store = SqlTokenStore(engine)
    assert await store.get("wx1", ACCESS_TOKEN) is None
    first = CachedToken("token-1", expires_at=1_800_000_000.5, fetched_at=1_799_992_810.25)
    await store.put("wx1", ACCESS_TOKEN, first)
    assert await store.get("wx1", ACCESS_TOKEN) == first
    assert await store.get("wx1", JSAPI_TICKET) is None
    assert await store.get("wx2", ACCESS_TOKEN) is None
    second = CachedToken("token-2", expires_at=1_800_007_200.0)  # fetched_at unknown
    await store.put("wx1", ACCESS_TOKEN, second)
    assert await store.get("wx1", ACCESS_TOKEN) == second
    ticket = CachedToken("ticket", expires_at=1_800_000_000.0, fetched_at=1.0)
    await store.put("wx1", JSAPI_TICKET, ticket)
    assert await store.get("wx1", JSAPI_TICKET) == ticket
    assert await store.get("wx1", ACCESS_TOKEN) == second


async def test_lock_excludes_other_holders(engine: AsyncEngine) -> None:
    store = SqlTokenStore(engine, lock_poll_s=0.01)
    order: list[str] = []

    async def holder(tag: str) -> None:
        async with store.lock("wx1", ACCESS_TOKEN):
            order.append(f"{tag}+")
            await asyncio.sleep(0.05)
            order.append(f"{tag}-")

    async with asyncio.timeout(10):
        await asyncio.gather(holder("a"), holder("b"), holder("c"))
    assert all(order[i][0] == order[i + 1][0] for i in range(0, len(order), 2))


async def test_lock_proceeds_after_timeout(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqlTokenStore(engine, lock_timeout_s=0.2, lock_poll_s=0.02)
    async with (
        store.lock("wx1", ACCESS_TOKEN),
        asyncio.timeout(3),
        store.lock("wx1", ACCESS_TOKEN),  # as FileTokenStore: a second refresh, not an outage
    ):
        pass
    assert "refreshing without it" in caplog.text


class CountingFetcher:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, *, force: bool) -> tuple[str, float]:
        self.calls += 1
        await asyncio.sleep(0.1)  # slow enough for every caller to queue up
        return f"token-{self.calls}", 7200.0


async def test_twenty_callers_one_fetch(engine: AsyncEngine) -> None:
    """20 callers over 4 managers (as if 4 workers) sharing one store: one fetch in total."""
    store = SqlTokenStore(engine, lock_poll_s=0.01)
    fetch = CountingFetcher()
    managers = [TokenManager("wx1", ACCESS_TOKEN, fetch, store=store) for _ in range(4)]
    async with asyncio.timeout(15):
        tokens = await asyncio.gather(*(managers[i % 4].get() for i in range(20)))
    assert fetch.calls == 1
    assert set(tokens) == {"token-1"}
    stored = await store.get("wx1", ACCESS_TOKEN)
    assert stored is not None
    assert stored.value == "token-1"


async def test_rejected_token_is_replaced_once(engine: AsyncEngine) -> None:
    store = SqlTokenStore(engine, lock_poll_s=0.01)
    fetch = CountingFetcher()
    managers = [TokenManager("wx1", ACCESS_TOKEN, fetch, store=store) for _ in range(3)]
    assert await managers[0].get() == "token-1"
    async with asyncio.timeout(10):
        tokens = await asyncio.gather(*(m.get(rejected="token-1") for m in managers))
    assert set(tokens) == {"token-2"}
    assert fetch.calls == 2
