"""Hot writes run whole in one hop: on SQLite on the writer thread (its own engine, the same
pragmas), on PostgreSQL through ``run_sync``; a failing body rolls back; a cancelled write keeps
SQLite's write lock until the thread has finished it; ``dispose_engine`` ends the thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.store import AccountStore, EventStore, NewEvent, create_engine, upgrade
from weixin_gateway.store._writer import dispose_engine
from weixin_gateway.store.tables import accounts


def _event(n: int) -> NewEvent:
    return NewEvent(
        message_id=str(n),
        fingerprint=f"f{n}",
        create_time_ms=n,
        chat_id="u",
        user_id="u",
        text=f"m{n}",
        context_token="",
        raw={},
    )


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sqlite-writer")]


async def test_ingest_runs_on_the_writer_thread_on_sqlite_only(
    engine: AsyncEngine, backend: str
) -> None:
    await AccountStore(engine).save(account_id="a", api_base_url="http://x", bot_token="t")
    events = EventStore(engine)

    def where(connection: Connection) -> str:
        return threading.current_thread().name

    thread = await events.transaction(where)
    stored = await events.ingest("a", [_event(1), _event(2)], "c1", mode="callback",
                                 dedup_window_s=0)  # fmt: skip
    if backend == "sqlite":
        assert thread.startswith("sqlite-writer")
    else:
        assert thread == threading.current_thread().name  # run_sync: the loop's own thread
    assert [r.text for r in stored.stored] == ["m1", "m2"]
    # what the writer committed is what the async engine reads
    account = await AccountStore(engine).get("a")
    assert account is not None
    assert account.cursor == "c1"
    assert [r.text for r in await events.search(limit=5)] == ["m1", "m2"]


async def test_writer_connection_has_the_engines_pragmas(tmp_path: Path) -> None:
    engine = create_engine(tmp_path / "w.db", busy_timeout_ms=4321)
    try:
        store = EventStore(engine)

        def pragmas(connection: Connection) -> dict[str, object]:
            return {
                name: connection.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }

        assert await store.transaction(pragmas) == {
            "journal_mode": "wal",
            "busy_timeout": 4321,
            "foreign_keys": 1,
            "synchronous": 1,
        }
    finally:
        await dispose_engine(engine)


async def test_a_failing_body_rolls_back(engine: AsyncEngine) -> None:
    store = EventStore(engine)

    def insert_then_fail(connection: Connection) -> None:
        connection.execute(
            insert(accounts).values(
                account_id="x", api_base_url="http://x", bot_token="t", created_at=0, updated_at=0
            )
        )
        raise RuntimeError("body failed")

    with pytest.raises(RuntimeError, match="body failed"):
        await store.transaction(insert_then_fail)
    async with engine.connect() as connection:
        assert (await connection.execute(select(accounts.c.account_id))).all() == []
    assert await store.transaction(lambda c: c.execute(text("SELECT 1")).scalar_one()) == 1


async def test_a_cancelled_write_keeps_the_writer_until_it_is_done(tmp_path: Path) -> None:
    engine = create_engine(tmp_path / "c.db")
    await upgrade(engine)
    store = AccountStore(engine)
    release = threading.Event()
    entered = threading.Event()

    def slow(connection: Connection) -> str:
        entered.set()
        release.wait(10)
        connection.execute(
            insert(accounts).values(
                account_id="slow", api_base_url="http://x", bot_token="t", created_at=0,
                updated_at=0,
            )
        )  # fmt: skip
        return "written"

    try:
        first = asyncio.create_task(store.transaction(slow))
        assert await asyncio.to_thread(entered.wait, 10)
        first.cancel()
        second = asyncio.create_task(store.transaction(lambda c: "second"))
        await asyncio.sleep(0.2)
        # the writer is still busy: both wait
        assert not first.done()
        assert not second.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == "second"
        # the cancelled caller's write happened (it was under way): nothing half-done
        assert [a.account_id for a in await store.all()] == ["slow"]
    finally:
        release.set()
        await dispose_engine(engine)


async def test_dispose_engine_ends_the_writer_thread(tmp_path: Path) -> None:
    before = len(_writer_threads())
    engine = create_engine(tmp_path / "d.db")
    await upgrade(engine)
    await EventStore(engine).transaction(lambda c: None)
    assert len(_writer_threads()) == before + 1
    await dispose_engine(engine)
    for _ in range(100):
        if len(_writer_threads()) == before:
            break
        await asyncio.sleep(0.01)
    assert len(_writer_threads()) == before


async def test_the_writer_keeps_its_connection_until_a_transaction_fails(tmp_path: Path) -> None:
    engine = create_engine(tmp_path / "k.db")
    seen: list[Connection] = []
    try:
        store = EventStore(engine)

        def note(connection: Connection) -> None:
            seen.append(connection)

        def fail(connection: Connection) -> None:
            raise RuntimeError("body failed")

        await store.transaction(note)
        await store.transaction(note)
        assert seen[1] is seen[0]  # no pool check-out and check-in for each write
        with pytest.raises(RuntimeError):
            await store.transaction(fail)
        assert seen[0].closed
        await store.transaction(note)
        assert seen[2] is not seen[0]  # started afresh
    finally:
        await dispose_engine(engine)
