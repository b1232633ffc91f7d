"""The hot statements run on the driver's cursor (``store/_compiled.py``): what they store and
return is what SQLAlchemy reads back, on both backends, across the sizes where a group is split
(multi-row INSERTs of 128, 64, … rows); a list parameter matches its values whatever their
number (hundreds of delivered marks in one statement); a statement is compiled once per dialect
and shape."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.store import AccountStore, EventStore, NewEvent
from weixin_gateway.store._compiled import CompiledStatement, in_values
from weixin_gateway.store.tables import events as events_table


def _event(n: int, *, user: str = "u") -> NewEvent:
    return NewEvent(
        message_id=None if n % 7 == 0 else f"id-{n}",  # some messages have no id
        fingerprint=f"fp-{n}",
        create_time_ms=None if n % 5 == 0 else 1_700_000_000_000 + n,
        chat_id=user,
        user_id=user,
        text=f"文本 {n}",
        context_token=f"ctx-{n}" if n % 3 else "",
        raw={"n": n, "嗨": [1, 2]},
        ready=n % 4 != 0,
        attachments=[{"kind": "image", "n": n}] if n % 4 == 0 else [],
    )


async def test_a_large_poll_is_stored_whole_and_read_back_alike(engine: AsyncEngine) -> None:
    await AccountStore(engine).save(account_id="a", api_base_url="http://x", bot_token="t")
    store = EventStore(engine)
    incoming = [_event(n) for n in range(1, 302)]  # 128 + 128 + 32 + 8 + 5 rows
    result = await store.ingest("a", incoming, "c-300", mode="inbox", dedup_window_s=600)
    assert [r.text for r in result.stored] == [e.text for e in incoming]
    seqs = [r.seq for r in result.stored]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 301
    for record in result.stored:  # what ingest returned is what was stored
        assert await store.get_by_seq(record.seq) == record
    account = await AccountStore(engine).get("a")
    assert account is not None
    assert account.cursor == "c-300"
    assert account.last_forwarded == 301
    assert await AccountStore(engine).context_token("a", "u") == "ctx-301"

    # the same poll again: every message is a duplicate, by id or (without one) by content
    again = await store.ingest("a", incoming, "c-301", mode="inbox", dedup_window_s=600)
    assert again.stored == []
    assert again.duplicates_by_id == sum(e.message_id is not None for e in incoming)
    assert again.duplicates_by_content == sum(e.message_id is None for e in incoming)
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(events_table)) == 301


async def test_content_dedup_without_any_message_id(engine: AsyncEngine) -> None:
    """Only fingerprints to look up (no id list at all), and only ids (no content window)."""
    await AccountStore(engine).save(account_id="a", api_base_url="http://x", bot_token="t")
    store = EventStore(engine)
    no_ids = [dataclasses.replace(_event(n), message_id=None) for n in (1, 2)]
    assert len((await store.ingest("a", no_ids, "c1", mode="callback", dedup_window_s=60)).stored)
    repeat = await store.ingest("a", no_ids, "c2", mode="callback", dedup_window_s=60)
    assert (len(repeat.stored), repeat.duplicates_by_content) == (0, 2)
    with_ids = [_event(n) for n in (8, 9)]
    assert len((await store.ingest("a", with_ids, "c3", mode="callback", dedup_window_s=0)).stored)
    repeat = await store.ingest("a", with_ids, "c4", mode="callback", dedup_window_s=0)
    assert (len(repeat.stored), repeat.duplicates_by_id) == (0, 2)


async def test_marking_hundreds_delivered_at_once(engine: AsyncEngine) -> None:
    await AccountStore(engine).save(account_id="a", api_base_url="http://x", bot_token="t")
    store = EventStore(engine)
    stored = await store.ingest(
        "a", [_event(n) for n in range(1, 613)], "c", mode="callback", dedup_window_s=0
    )
    seqs = [r.seq for r in stored.stored]
    missing = [max(seqs) + 1, max(seqs) + 2]
    wanted = [*seqs[:505], *missing, *seqs[600:]]  # 519 values, two of them unknown
    found = await store.mark_delivered_many(wanted)
    assert found == [s not in missing for s in wanted]
    delivered = await store.search(status="delivered", limit=1_000)
    assert sorted(r.seq for r in delivered) == sorted([*seqs[:505], *seqs[600:]])
    assert {(r.attempts, r.error) for r in delivered} == {(1, "")}
    assert all(r.delivered_at is not None for r in delivered)
    assert await store.count_by_status() == {
        ("callback", "delivered"): 517,
        ("callback", "pending"): 95,
    }


async def test_a_statement_is_compiled_once_per_dialect_and_shape(engine: AsyncEngine) -> None:
    built: list[tuple[str, int]] = []

    def build(dialect: str, n: int) -> object:
        built.append((dialect, n))
        return (
            select(events_table.c.seq)
            .where(in_values(events_table.c.message_id, "ids", dialect))
            .order_by(events_table.c.seq)
            .limit(n)
        )

    statement = CompiledStatement(build)  # type: ignore[arg-type]
    await AccountStore(engine).save(account_id="a", api_base_url="http://x", bot_token="t")
    store = EventStore(engine)
    stored = await store.ingest(
        "a", [_event(n) for n in (1, 2, 3, 4)], "c", mode="callback", dedup_window_s=0
    )
    seqs = [r.seq for r in stored.stored]

    def run(connection: Connection) -> list[list[int]]:
        asks = [(["id-1", "id-2", "id-3"], 1), (["id-2", "id-3", "id-4"], 2), ([], 1), (["x"], 2)]
        asks += [(["id-4", "id-1", "id-4", "'; --"], 5)]
        return [[r[0] for r in statement.rows(connection, {"ids": ids}, n)] for ids, n in asks]

    assert await store.transaction(run) == [seqs[:1], seqs[1:3], [], [], [seqs[0], seqs[3]]]
    dialect = engine.dialect.name
    assert built == [(dialect, 1), (dialect, 2), (dialect, 5)]
