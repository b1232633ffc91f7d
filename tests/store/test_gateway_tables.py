"""The gateway service's tables on both backends: ingest (atomic, de-duplicated), inbox claims
and leases, callback outcomes, re-delivery, mode changes, async send tasks."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import sqlalchemy.event
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway._clock import FakeClock
from weixin_gateway.store import (
    AccountStore,
    ClaimConflict,
    EventRecord,
    EventStore,
    NewEvent,
    SendTaskStore,
)


def _event(n: int, *, user: str = "u1", text: str | None = None, at: int = 0) -> NewEvent:
    return NewEvent(
        message_id=str(1000 + n),
        fingerprint=f"fp-{user}-{text or n}",
        create_time_ms=at or 1_700_000_000_000 + n,
        chat_id=user,
        user_id=user,
        text=text or f"m{n}",
        context_token=f"ctx-{n}",
        raw={"message_id": 1000 + n},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def stores(engine: AsyncEngine, clock: FakeClock) -> tuple[AccountStore, EventStore]:
    accounts = AccountStore(engine, clock=clock)
    await accounts.save(account_id="a1", api_base_url="http://127.0.0.1:1", bot_token="t")
    return accounts, EventStore(engine, clock=clock)


async def test_ingest_stores_messages_cursor_and_context_together(
    stores: tuple[AccountStore, EventStore],
) -> None:
    accounts, events = stores
    result = await events.ingest(
        "a1", [_event(1), _event(2)], "cursor-2", mode="callback", dedup_window_s=600
    )
    assert [r.text for r in result.stored] == ["m1", "m2"]
    assert result.stored[0].seq < result.stored[1].seq
    assert len({r.event_id for r in result.stored}) == 2
    account = await accounts.get("a1")
    assert account is not None
    assert account.cursor == "cursor-2"
    assert account.last_forwarded == 2
    assert await accounts.context_token("a1", "u1") == "ctx-2"


async def test_ingest_drops_redeliveries(stores: tuple[AccountStore, EventStore]) -> None:
    _, events = stores
    first = _event(1, text="same", at=5)
    await events.ingest("a1", [first], "c1", mode="callback", dedup_window_s=600)
    again_by_id = _event(1, text="other")
    again_by_content = replace(first, message_id="9999")
    genuine_repeat = replace(first, message_id="9998", create_time_ms=6)
    result = await events.ingest(
        "a1",
        [again_by_id, again_by_content, genuine_repeat],
        "c2",
        mode="callback",
        dedup_window_s=600,
    )
    assert result.duplicates_by_id == 1
    assert result.duplicates_by_content == 1
    assert [r.message_id for r in result.stored] == ["9998"]


async def test_content_dedup_only_within_the_window(
    stores: tuple[AccountStore, EventStore], clock: FakeClock
) -> None:
    _, events = stores
    first = _event(1, text="same", at=5)
    await events.ingest("a1", [first], "c1", mode="callback", dedup_window_s=10)
    clock.advance(11)
    late = replace(first, message_id="9999")
    result = await events.ingest("a1", [late], "c2", mode="callback", dedup_window_s=10)
    assert len(result.stored) == 1


async def test_concurrent_polls_of_many_accounts_are_stored_together(
    engine: AsyncEngine, clock: FakeClock, backend: str
) -> None:
    """Polls that finish while another is being stored share one transaction (group commit);
    each still gets its own result, cursor, context tokens and duplicate checks."""
    accounts = AccountStore(engine, clock=clock)
    events = EventStore(engine, clock=clock)
    for n in range(6):
        await accounts.save(account_id=f"a{n}", api_base_url="http://127.0.0.1:1", bot_token="t")
    await events.ingest("a0", [_event(1)], "c0", mode="callback", dedup_window_s=600)
    commits: list[object] = []
    statements: list[str] = []  # what SQLite ran (the hot statements bypass SQLAlchemy's events)
    if backend == "sqlite":
        await events.transaction(
            lambda c: c.connection.driver_connection.set_trace_callback(statements.append)
        )
    statements.clear()

    def count(conn: object) -> None:
        commits.append(conn)

    # on every engine: the hot writes run on the SQLite writer thread's own engine
    sqlalchemy.event.listen(sqlalchemy.Engine, "commit", count)
    try:
        results = await asyncio.gather(
            *(
                events.ingest(
                    f"a{n}",
                    [_event(1), _event(10 + n, user=f"u{n}")],  # 1001 is a0's duplicate only
                    f"c{n}-next",
                    mode="inbox" if n % 2 else "callback",
                    dedup_window_s=600,
                )
                for n in range(6)
            )
        )
    finally:
        sqlalchemy.event.remove(sqlalchemy.Engine, "commit", count)
        if backend == "sqlite":
            await events.transaction(
                lambda c: c.connection.driver_connection.set_trace_callback(None)
            )
    assert [len(r.stored) for r in results] == [1, 2, 2, 2, 2, 2]
    assert [r.duplicates_by_id for r in results] == [1, 0, 0, 0, 0, 0]
    assert {r.account_id for r in results[3].stored} == {"a3"}
    assert {r.mode for r in results[3].stored} == {"inbox"}
    assert [r.text for r in results[5].stored] == ["m1", "m15"]
    seqs = [r.seq for result in results[1:] for r in result.stored]
    assert seqs == sorted(seqs)  # one insert for the group, in message order
    for n in range(6):
        account = await accounts.get(f"a{n}")
        assert account is not None
        assert account.cursor == f"c{n}-next"
    assert await accounts.context_token("a4", "u4") == "ctx-14"
    # the first poll alone, then the other five together: two transactions at most
    assert 1 <= len(commits) <= 2
    if backend == "sqlite":  # in each: one duplicate lookup; the events in 8-, 2- or 1-row inserts
        assert sum(s.startswith("SELECT") for s in statements) == len(commits)
        inserts = sum(s.startswith("INSERT INTO events") for s in statements)
        assert inserts == (2 if len(commits) == 1 else 3)  # 11 rows; or 1, then 10
        assert sum(s.startswith("COMMIT") for s in statements) == len(commits)


async def test_claim_lease_conflict_and_expiry(
    stores: tuple[AccountStore, EventStore], clock: FakeClock
) -> None:
    _, events = stores
    [record] = (await events.ingest("a1", [_event(1)], "c", mode="inbox", dedup_window_s=0)).stored
    claimed = await events.claim(record.id, "w1", 30)
    assert isinstance(claimed, EventRecord)
    assert claimed.claim_worker == "w1"
    conflict = await events.claim(record.id, "w2", 30)
    assert conflict == ClaimConflict("claimed", "w1", claimed.lease_expires_at)
    assert isinstance(await events.claim(record.id, "w1", 30), EventRecord)  # renewal
    assert isinstance(await events.complete(record.id, worker="w2", note=""), ClaimConflict)
    clock.advance(31)
    assert [r.id for r in await events.search(status="pending")] == [record.id]
    taken = await events.claim(record.id, "w2", 30)
    assert isinstance(taken, EventRecord)
    assert taken.claim_worker == "w2"
    done = await events.complete(record.id, worker="w2", note="ok")
    assert isinstance(done, EventRecord)
    assert done.status == "completed"
    assert done.completion_note == "ok"
    assert await events.claim("msg-nope", "w1", 30) is None


async def test_fail_counts_attempts_then_dead(stores: tuple[AccountStore, EventStore]) -> None:
    _, events = stores
    [record] = (await events.ingest("a1", [_event(1)], "c", mode="inbox", dedup_window_s=0)).stored
    first = await events.fail(record.id, worker=None, error="e1", max_attempts=2)
    assert isinstance(first, EventRecord)
    assert (first.status, first.attempts, first.error) == ("failed", 1, "e1")
    assert isinstance(await events.claim(record.id, "w", 30), EventRecord)
    second = await events.fail(record.id, worker="w", error="e2", max_attempts=2)
    assert isinstance(second, EventRecord)
    assert (second.status, second.attempts) == ("dead", 2)
    assert await events.claim(record.id, "w", 30) == ClaimConflict("dead")
    [back] = await events.redeliver(ids=[record.event_id])
    assert (back.status, back.attempts) == ("pending", 0)


async def test_batch_claims_never_overlap(stores: tuple[AccountStore, EventStore]) -> None:
    _, events = stores
    batch = [_event(n) for n in range(40)]
    await events.ingest("a1", batch, "c", mode="inbox", dedup_window_s=0)
    results = await asyncio.gather(*(events.claim_batch(f"w{i}", 7, 30) for i in range(8)))
    ids = [r.id for result in results for r in result]
    assert len(ids) == len(set(ids)) == 40
    for result in results:
        assert [r.seq for r in result] == sorted(r.seq for r in result)


# --- settling many inbox messages at once ---------------------------------------------------------

#: The states :func:`_settle_world` puts messages in, one message each.
SETTLE_STATES = (
    "pending",
    "mine",  # claimed by w1
    "theirs",  # claimed by w2, lease running
    "lapsed",  # claimed by w2, lease run out
    "failed",  # failed once
    "last_try",  # failed twice, claimed by w1: the third failure makes it dead
    "completed",
    "dead",
    "preparing",  # media not saved yet
    "callback",  # a callback-mode event
    "unknown",  # no such message
)


async def _settle_world(events: EventStore, base: int) -> dict[str, str]:
    """One message in each of :data:`SETTLE_STATES` (``base`` keeps worlds apart): their ids."""
    names = [name for name in SETTLE_STATES if name not in ("callback", "unknown")]
    batch = [replace(_event(base + n), ready=name != "preparing") for n, name in enumerate(names)]
    stored = (await events.ingest("a1", batch, "c", mode="inbox", dedup_window_s=0)).stored
    ids = {name: record.id for name, record in zip(names, stored, strict=True)}
    [callback] = (
        await events.ingest("a1", [_event(base + 99)], "c", mode="callback", dedup_window_s=0)
    ).stored
    ids["callback"] = callback.id
    ids["unknown"] = f"msg-nope-{base}"
    await events.claim(ids["mine"], "w1", 30)
    await events.claim(ids["theirs"], "w2", 30)
    await events.claim(ids["lapsed"], "w2", 0)  # expires at once
    await events.fail(ids["failed"], worker=None, error="e", max_attempts=3)
    for _ in range(2):
        await events.fail(ids["last_try"], worker=None, error="e", max_attempts=3)
    await events.claim(ids["last_try"], "w1", 30)
    await events.complete(ids["completed"], worker=None, note="")
    for _ in range(3):
        await events.fail(ids["dead"], worker=None, error="e", max_attempts=3)
    return ids


@pytest.fixture
async def world(stores: tuple[AccountStore, EventStore]) -> tuple[EventStore, dict[str, str]]:
    """The event store, with one message in each of :data:`SETTLE_STATES`, and their ids."""
    _, events = stores
    return events, await _settle_world(events, 0)


def _shape(outcome: EventRecord | ClaimConflict | None) -> object:
    """An outcome without what differs between two worlds (ids, texts, sequence numbers)."""
    if not isinstance(outcome, EventRecord):
        return outcome
    return (
        outcome.status,
        outcome.attempts,
        outcome.error,
        outcome.completion_note,
        outcome.claim_worker,
        outcome.lease_expires_at,
        outcome.completed_at,
        outcome.failed_at,
    )


async def test_fail_batch_mixed_outcomes(world: tuple[EventStore, dict[str, str]]) -> None:
    events, ids = world
    theirs = await events.get(ids["theirs"])
    assert theirs is not None
    outcomes = await events.fail_batch(
        [ids[name] for name in SETTLE_STATES], worker="w1", error="boom", max_attempts=3
    )
    assert list(outcomes) == [ids[name] for name in SETTLE_STATES]  # request order
    by_name = {name: outcomes[ids[name]] for name in SETTLE_STATES}
    settled = {n: o for n, o in by_name.items() if isinstance(o, EventRecord)}
    assert {n: (o.status, o.attempts, o.error) for n, o in settled.items()} == {
        "pending": ("failed", 1, "boom"),
        "mine": ("failed", 1, "boom"),
        "lapsed": ("failed", 1, "boom"),
        "failed": ("failed", 2, "boom"),
        "last_try": ("dead", 3, "boom"),
    }
    assert all(o.claim_worker is None and o.lease_expires_at is None for o in settled.values())
    assert {n: o for n, o in by_name.items() if n not in settled} == {
        "theirs": ClaimConflict("claimed", "w2", theirs.lease_expires_at),
        "completed": ClaimConflict("completed"),
        "dead": ClaimConflict("dead"),
        "preparing": ClaimConflict("preparing"),
        "callback": ClaimConflict("delivered by callback"),
        "unknown": None,
    }
    stored = await events.get(ids["theirs"])
    assert stored == theirs  # a refused message is left as it was


async def test_settle_batch_names_by_either_id_and_settles_once(
    world: tuple[EventStore, dict[str, str]],
) -> None:
    events, ids = world
    mine, pending = await events.get(ids["mine"]), await events.get(ids["pending"])
    assert mine is not None
    assert pending is not None
    named = [mine.event_id, pending.id, ids["failed"], pending.id, pending.event_id]
    outcomes = await events.fail_batch(named, worker=None, error="x", max_attempts=9)
    assert list(outcomes) == [mine.event_id, pending.id, ids["failed"], pending.event_id]
    records = [o for o in outcomes.values() if isinstance(o, EventRecord)]
    assert [(r.id, r.status, r.attempts) for r in records] == [
        (mine.id, "failed", 1),
        (pending.id, "failed", 1),  # once, though named three times
        (ids["failed"], "failed", 2),
        (pending.id, "failed", 1),
    ]
    assert outcomes[pending.event_id] == outcomes[pending.id]
    assert await events.complete_batch([], worker=None, note="") == {}


@pytest.mark.parametrize("worker", [None, "w1"])
@pytest.mark.parametrize("action", ["complete", "fail"])
async def test_single_and_batch_settle_alike(
    stores: tuple[AccountStore, EventStore], action: str, worker: str | None
) -> None:
    _, events = stores
    single_ids = await _settle_world(events, 0)
    batch_ids = await _settle_world(events, 100)
    if action == "complete":
        singles = [
            await events.complete(single_ids[name], worker=worker, note="n")
            for name in SETTLE_STATES
        ]
        batch = await events.complete_batch(
            [batch_ids[name] for name in SETTLE_STATES], worker=worker, note="n"
        )
    else:
        singles = [
            await events.fail(single_ids[name], worker=worker, error="e", max_attempts=3)
            for name in SETTLE_STATES
        ]
        batch = await events.fail_batch(
            [batch_ids[name] for name in SETTLE_STATES], worker=worker, error="e", max_attempts=3
        )
    assert [_shape(o) for o in batch.values()] == [_shape(o) for o in singles]


async def test_settle_batch_statements(
    stores: tuple[AccountStore, EventStore], engine: AsyncEngine
) -> None:
    """One UPDATE for the whole batch; one SELECT more only to explain what it left."""
    _, events = stores
    stored = (
        await events.ingest("a1", [_event(n) for n in range(30)], "c", mode="inbox",
                            dedup_window_s=0)
    ).stored  # fmt: skip
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]).split(None, 1)[0].upper())

    sqlalchemy.event.listen(sqlalchemy.Engine, "before_cursor_execute", record)
    try:
        done = await events.complete_batch([r.id for r in stored[:20]], worker=None, note="")
        assert statements == ["UPDATE"]
        statements.clear()
        again = await events.fail_batch(
            [r.id for r in stored[10:]] + ["msg-nope"], worker="w", error="", max_attempts=3
        )
        assert statements == ["UPDATE", "SELECT"]
    finally:
        sqlalchemy.event.remove(sqlalchemy.Engine, "before_cursor_execute", record)
    assert all(isinstance(o, EventRecord) for o in done.values())
    assert [type(o).__name__ for o in again.values()] == (
        ["ClaimConflict"] * 10 + ["EventRecord"] * 10 + ["NoneType"]
    )


async def test_callback_outcomes_and_mode_change(stores: tuple[AccountStore, EventStore]) -> None:
    _, events = stores
    stored = (await events.ingest("a1", [_event(1), _event(2)], "c", mode="callback",
                                  dedup_window_s=0)).stored  # fmt: skip
    assert [s for s, _, _ in await events.pending_callbacks()] == [r.seq for r in stored]
    retried = await events.mark_retry(stored[0].seq, next_attempt_at=5.0, error="HTTP 500")
    assert retried is not None
    assert (retried.attempts, retried.next_attempt_at, retried.error) == (1, 5.0, "HTTP 500")
    assert await events.mark_delivered(stored[0].seq) is True
    assert await events.mark_delivered(999_999) is False
    delivered = await events.get_by_seq(stored[0].seq)
    assert delivered is not None
    assert (delivered.status, delivered.attempts) == ("delivered", 2)
    dead = await events.mark_dead(stored[1].seq, error="gone")
    assert dead is not None
    assert dead.status == "dead"
    assert await events.pending_callbacks() == []
    assert [r.seq for r in await events.search(status="dead")] == [stored[1].seq]
    [redelivered] = await events.redeliver(all_dead=True)
    assert redelivered.status == "pending"
    assert await events.adopt_mode("inbox") == 1
    claimed = await events.claim_batch("w", 10, 30)
    assert [r.seq for r in claimed] == [stored[1].seq]


async def test_media_pending_messages_are_not_claimable_until_ready(
    stores: tuple[AccountStore, EventStore],
) -> None:
    _, events = stores
    waiting = replace(_event(1), ready=False)
    [record] = (await events.ingest("a1", [waiting], "c", mode="inbox", dedup_window_s=0)).stored
    assert await events.claim_batch("w", 10, 30) == []
    assert await events.claim(record.id, "w", 30) == ClaimConflict("preparing")
    assert [r.seq for r in await events.unready()] == [record.seq]
    await events.set_media(record.seq, [{"kind": "image", "path": "/x"}], "label")
    [claimed] = await events.claim_batch("w", 10, 30)
    assert claimed.attachments == [{"kind": "image", "path": "/x"}]
    assert claimed.text == "label"


async def test_expired_accounts_and_owner_lookup(
    stores: tuple[AccountStore, EventStore],
) -> None:
    accounts, _ = stores
    await accounts.save(
        account_id="a2", api_base_url="http://x", bot_token="t2", bot_id="b2", wechat_uin="owner"
    )
    assert await accounts.find_expired_by_owner("owner") is None
    await accounts.mark_expired("a2", "session expired")
    found = await accounts.find_expired_by_owner("owner")
    assert found is not None
    assert found.account_id == "a2"
    assert await accounts.count_by_state() == {"active": 1, "expired": 1}
    revived = await accounts.save(account_id="a2", api_base_url="http://x", bot_token="t3")
    assert (revived.session_state, revived.cursor) == ("active", "")
    assert "t3" not in repr(revived)
    removed = await accounts.delete("a2")
    assert removed is not None
    assert await accounts.get("a2") is None


async def test_send_tasks_survive_a_restart(engine: AsyncEngine, clock: FakeClock) -> None:
    tasks = SendTaskStore(engine, clock=clock)
    await tasks.create("t1", account_id="a", to_user_id="u", request={"items": []})
    await tasks.create("t2", account_id="a", to_user_id="u", request={"items": []})
    await tasks.set_status("t1", "running")
    queued = await tasks.recover()
    assert [t.id for t in queued] == ["t2"]
    interrupted = await tasks.get("t1")
    assert interrupted is not None
    assert interrupted.status == "failed"
    assert "interrupted" in interrupted.error
