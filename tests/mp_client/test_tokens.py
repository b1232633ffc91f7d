"""The token layer on its own: stores, go-wx-gateway's file layout, single-holder refresh."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from weixin_gateway._clock import FakeClock
from weixin_gateway.mp.tokens import (
    ACCESS_TOKEN,
    EXPIRY_SKEW_S,
    JSAPI_TICKET,
    CachedToken,
    FileTokenStore,
    MemoryTokenStore,
    TokenManager,
    TokenStore,
)

APP = "wx0123456789abcdef"


class CountingFetcher:
    """A stand-in for WeChat's token endpoint: numbered tokens, counted calls."""

    def __init__(self, expires_in: float = 7200, delay: float = 0.0) -> None:
        self.calls: list[bool] = []
        self.expires_in = expires_in
        self.delay = delay

    async def __call__(self, *, force: bool) -> tuple[str, float]:
        self.calls.append(force)
        if self.delay:
            await asyncio.sleep(self.delay)
        return f"TOKEN-{len(self.calls)}", self.expires_in


def test_cached_token_repr_hides_the_value() -> None:
    token = CachedToken.issued("SECRET-TOKEN-VALUE", 7200, now=1000.0)
    assert token.expires_at == 1000.0 + 7200 - EXPIRY_SKEW_S
    assert "SECRET-TOKEN-VALUE" not in repr(token)
    assert "SECRET-TOKEN-VALUE" not in str(token)


async def test_file_store_writes_go_wx_gateway_layout(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "cache")
    await store.put(APP, ACCESS_TOKEN, CachedToken("tok", 1_700_007_190.0))
    await store.put(APP, JSAPI_TICKET, CachedToken("tic", 1_700_007_190.0))
    token_file = tmp_path / "cache" / APP
    ticket_file = tmp_path / "cache" / f"{APP}.ticket"
    assert json.loads(token_file.read_text()) == {"expire": 1_700_007_190, "token": "tok"}
    assert json.loads(ticket_file.read_text()) == {"expire": 1_700_007_190, "ticket": "tic"}
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # nothing but the two files (and lock files, which are hidden) is left behind
    visible = sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith("."))
    assert visible == [APP, f"{APP}.ticket"]


async def test_file_store_reads_files_written_by_go_wx_gateway(tmp_path: Path) -> None:
    (tmp_path / APP).write_text('{"expire":1700007190,"token":"from-go"}')
    (tmp_path / f"{APP}.ticket").write_text('{"expire":1700007000,"ticket":"go-ticket"}')
    store = FileTokenStore(tmp_path)
    assert await store.get(APP, ACCESS_TOKEN) == CachedToken("from-go", 1_700_007_190.0)
    assert await store.get(APP, JSAPI_TICKET) == CachedToken("go-ticket", 1_700_007_000.0)
    assert await store.get("wxother", ACCESS_TOKEN) is None


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[]", b'{"expire":"x","token":"t"}', b'{"expire":1}', b"\xff"]
)
async def test_file_store_treats_a_broken_file_as_absent(tmp_path: Path, content: bytes) -> None:
    (tmp_path / APP).write_bytes(content)
    assert await FileTokenStore(tmp_path).get(APP, ACCESS_TOKEN) is None


def test_file_store_refuses_path_tricks(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path)
    with pytest.raises(ValueError, match="app_id"):
        store.path("../etc/passwd", ACCESS_TOKEN)
    with pytest.raises(ValueError, match="kind"):
        store.path(APP, "../x")
    assert store.path(APP, "wx_card").name == f"{APP}.wx_card"


async def test_file_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    first, second = FileTokenStore(tmp_path), FileTokenStore(tmp_path)
    order: list[str] = []

    async def hold(store: FileTokenStore, name: str) -> None:
        async with store.lock(APP, ACCESS_TOKEN):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    async with asyncio.timeout(5):
        await asyncio.gather(hold(first, "a"), hold(second, "b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_file_lock_wait_is_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    holder = FileTokenStore(tmp_path)
    waiter = FileTokenStore(tmp_path, lock_timeout_s=0.1)
    async with (
        asyncio.timeout(5),
        holder.lock(APP, ACCESS_TOKEN),
        waiter.lock(APP, ACCESS_TOKEN),
    ):
        pass
    assert "refreshing without it" in caplog.text


async def test_file_lock_wait_can_be_cancelled(tmp_path: Path) -> None:
    holder = FileTokenStore(tmp_path)
    waiter = FileTokenStore(tmp_path)

    async def wait() -> None:
        async with waiter.lock(APP, ACCESS_TOKEN):
            raise AssertionError("must not get the lock")

    async with holder.lock(APP, ACCESS_TOKEN):
        task = asyncio.create_task(wait())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # the lock is free again for someone else
    async with asyncio.timeout(2), waiter.lock(APP, ACCESS_TOKEN):
        pass


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TokenStore:
    if request.param == "memory":
        return MemoryTokenStore()
    return FileTokenStore(tmp_path)


async def test_manager_fetches_once_and_reuses(store: TokenStore) -> None:
    clock, fetch = FakeClock(), CountingFetcher()
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    assert await manager.get() == "TOKEN-1"
    assert await manager.get() == "TOKEN-1"
    stored = await store.get(APP, ACCESS_TOKEN)
    assert stored is not None
    assert stored.expires_at == clock.time() + 7200 - EXPIRY_SKEW_S
    assert fetch.calls == [False]


async def test_concurrent_callers_share_one_refresh(store: TokenStore) -> None:
    fetch = CountingFetcher(delay=0.02)
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=FakeClock())
    async with asyncio.timeout(5):
        tokens = await asyncio.gather(*(manager.get() for _ in range(50)))
    assert set(tokens) == {"TOKEN-1"}
    assert len(fetch.calls) == 1


async def test_two_managers_sharing_a_store_refresh_once(store: TokenStore) -> None:
    fetch_a, fetch_b = CountingFetcher(delay=0.02), CountingFetcher(delay=0.02)
    clock = FakeClock()
    a = TokenManager(APP, ACCESS_TOKEN, fetch_a, store=store, clock=clock)
    b = TokenManager(APP, ACCESS_TOKEN, fetch_b, store=store, clock=clock)
    async with asyncio.timeout(5):
        got = await asyncio.gather(a.get(), b.get(), a.get(), b.get())
    assert len(set(got)) == 1
    assert len(fetch_a.calls) + len(fetch_b.calls) == 1


async def test_refresh_inside_the_margin_and_not_before(store: TokenStore) -> None:
    clock, fetch = FakeClock(), CountingFetcher()
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    assert await manager.get() == "TOKEN-1"
    clock.advance(7200 - EXPIRY_SKEW_S - 281)  # 281 s left: still fresh
    assert await manager.get() == "TOKEN-1"
    clock.advance(2)  # 279 s left: inside the 280 s margin
    assert await manager.get() == "TOKEN-2"
    assert fetch.calls == [False, False]


async def test_a_token_from_the_store_is_adopted(store: TokenStore) -> None:
    clock, fetch = FakeClock(), CountingFetcher()
    await store.put(APP, ACCESS_TOKEN, CachedToken.issued("SHARED", 7200, now=clock.time()))
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    assert await manager.get() == "SHARED"
    assert fetch.calls == []


async def test_a_rejected_token_is_replaced_and_never_returned(store: TokenStore) -> None:
    clock, fetch = FakeClock(), CountingFetcher()
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    first = await manager.get()
    assert await manager.get(rejected=first) == "TOKEN-2"
    # a second caller reporting the same dead token finds the replacement: no further fetch
    assert await manager.get(rejected=first) == "TOKEN-2"
    assert fetch.calls == [False, False]


async def test_rejection_when_another_holder_already_replaced_it(store: TokenStore) -> None:
    clock, fetch = FakeClock(), CountingFetcher()
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    first = await manager.get()
    await store.put(APP, ACCESS_TOKEN, CachedToken.issued("NEIGHBOUR", 7200, now=clock.time()))
    assert await manager.get(rejected=first) == "NEIGHBOUR"
    assert fetch.calls == [False]


async def test_force_only_when_the_ordinary_fetch_returns_the_rejected_token() -> None:
    calls: list[bool] = []

    async def stubborn(*, force: bool) -> tuple[str, float]:
        calls.append(force)
        return ("FRESH" if force else "SAME"), 7200

    manager = TokenManager(APP, ACCESS_TOKEN, stubborn, store=MemoryTokenStore(), clock=FakeClock())
    assert await manager.get() == "SAME"
    assert await manager.get(rejected="SAME") == "FRESH"
    assert calls == [False, False, True]


async def test_a_short_lived_answer_does_not_cause_a_fetch_per_call(store: TokenStore) -> None:
    clock, fetch = FakeClock(), CountingFetcher(expires_in=200)
    manager = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    assert await manager.get() == "TOKEN-1"
    assert await manager.get() == "TOKEN-1"
    # another holder sharing the store does not fetch either
    other = TokenManager(APP, ACCESS_TOKEN, fetch, store=store, clock=clock)
    assert await other.get() == "TOKEN-1"
    clock.advance(31)  # past the re-fetch guard, still inside the margin
    assert await manager.get() == "TOKEN-2"
    assert len(fetch.calls) == 2


async def test_the_last_seconds_of_a_credential_cost_one_call_not_one_per_caller() -> None:
    """A server that hands back the same credential with 5 s left (a ticket about to expire)."""
    calls: list[bool] = []

    async def same(*, force: bool) -> tuple[str, float]:
        calls.append(force)
        await asyncio.sleep(0.01)
        return "TICKET", 5

    manager = TokenManager(APP, JSAPI_TICKET, same, store=MemoryTokenStore(), clock=FakeClock())
    async with asyncio.timeout(5):
        got = await asyncio.gather(*(manager.get() for _ in range(20)))
    assert set(got) == {"TICKET"}
    assert await manager.get() == "TICKET"
    assert len(calls) == 1


async def test_a_failed_fetch_is_not_cached_and_the_next_caller_retries() -> None:
    attempts: list[int] = []

    async def flaky(*, force: bool) -> tuple[str, float]:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("boom")
        return "OK", 7200

    manager = TokenManager(APP, ACCESS_TOKEN, flaky, store=MemoryTokenStore(), clock=FakeClock())
    with pytest.raises(OSError, match="boom"):
        await manager.get()
    assert await manager.get() == "OK"


async def test_file_store_creates_its_directory_private(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir"
    await FileTokenStore(target).put(APP, ACCESS_TOKEN, CachedToken("t", 1.0))
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
