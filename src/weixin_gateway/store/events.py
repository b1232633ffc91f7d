"""Inbound messages and their delivery state: the ``events`` table.

Every inbound message becomes one row, written in the same transaction as the cursor that
follows it (:meth:`EventStore.ingest`), so a crash can neither lose a message nor store it twice:
after a restart the poller resumes from the stored cursor, and a re-delivered ``message_id`` hits
the unique index. The row keeps its ``event_id`` for life, so an upstream never sees one message
under two event ids.

Statuses
--------
callback mode: ``pending`` (waiting or being retried; ``next_attempt_at`` says when) →
``delivered``, or ``dead`` after the retry budget (re-deliverable).

inbox mode (seed 000's names): ``pending`` → ``claimed`` (a worker holds a lease until
``lease_expires_at``; an expired lease puts it back to ``pending``) → ``completed``; ``fail``
makes it ``failed`` (claimable again) and counts an attempt; past the maximum it is ``dead``.

A row whose media is still being downloaded has ``ready = false``; it is neither delivered nor
claimable until the attachments are saved (or have failed — an error never blocks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import ReturningInsert, ReturningUpdate

from weixin_gateway._clock import Clock
from weixin_gateway.store._base import TableGateway
from weixin_gateway.store._compiled import CompiledStatement, in_values
from weixin_gateway.store._group_commit import GroupCommit
from weixin_gateway.store.tables import accounts, events

__all__ = [
    "CLAIMABLE",
    "ClaimConflict",
    "EventRecord",
    "EventStore",
    "IngestResult",
    "NewEvent",
    "Settled",
]

DeliveryMode = Literal["callback", "inbox"]
CLAIMABLE: Final = ("pending", "failed")
INBOX_STATUSES: Final = ("pending", "claimed", "completed", "failed", "dead")
CALLBACK_STATUSES: Final = ("pending", "delivered", "dead")

_REMEMBER_CONTEXT: Final = CompiledStatement(
    lambda dialect: text(
        "INSERT INTO context_tokens (account_id, user_id, context_token, updated_at) "
        "VALUES (:account_id, :user_id, :context_token, :updated_at) "
        "ON CONFLICT (account_id, user_id) DO UPDATE "
        "SET context_token = excluded.context_token, updated_at = excluded.updated_at"
    )
)


def new_id(prefix: str) -> str:
    """``<prefix>-`` and 96 random bits from the OS in hex (what ``uuid4().hex[:24]`` gave,
    without building a UUID: ten of these go into storing a group of five messages)."""
    return f"{prefix}-{os.urandom(12).hex()}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An inbound message, parsed, before it is stored."""

    message_id: str | None
    fingerprint: str
    create_time_ms: int | None
    chat_id: str
    user_id: str
    text: str
    context_token: str
    raw: dict[str, Any]
    ready: bool = True
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of ``events``; ``attachments`` and ``raw`` decoded."""

    seq: int
    id: str
    event_id: str
    account_id: str
    message_id: str | None
    fingerprint: str
    create_time_ms: int | None
    chat_id: str
    user_id: str
    text: str
    context_token: str
    attachments: list[dict[str, Any]]
    raw: dict[str, Any]
    mode: str
    status: str
    ready: bool
    attempts: int
    next_attempt_at: float
    claim_worker: str | None
    claimed_at: float | None
    lease_expires_at: float | None
    error: str
    completion_note: str
    delivered_at: float | None
    completed_at: float | None
    failed_at: float | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> EventRecord:
        values = dict(row._mapping)
        values["attachments"] = json.loads(values["attachments"] or "[]")
        values["raw"] = json.loads(values["raw"] or "{}")
        values["ready"] = bool(values["ready"])
        return cls(**values)

    @property
    def conversation(self) -> tuple[str, str]:
        return (self.account_id, self.chat_id)


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: list[EventRecord]
    duplicates_by_id: int = 0
    duplicates_by_content: int = 0


@dataclass(frozen=True, slots=True)
class ClaimConflict:
    """Why a claim was refused: the current holder (and until when), or the message's status."""

    status: str
    holder: str | None = None
    lease_expires_at: float | None = None


#: What settling (complete, fail) one message came to: the updated record, why it could not be
#: settled, or ``None`` when there is no such message.
Settled = EventRecord | ClaimConflict | None


def _claimable(now: float) -> ColumnElement[bool]:
    return or_(
        events.c.status.in_(CLAIMABLE),
        and_(events.c.status == "claimed", events.c.lease_expires_at <= now),
    )


def _claim(worker: str, now: float, lease_s: float) -> dict[str, Any]:
    """The columns a claim by ``worker`` sets."""
    return {
        "status": "claimed",
        "claim_worker": worker,
        "claimed_at": now,
        "lease_expires_at": now + lease_s,
        "updated_at": now,
    }


@dataclass(frozen=True, slots=True)
class _Poll:
    """One poll's result waiting to be stored."""

    account_id: str
    incoming: Sequence[NewEvent]
    cursor: str
    mode: DeliveryMode
    #: content duplicates count from this time on (None: no content check)
    since: float | None


@dataclass(slots=True)
class _Plan:
    fresh: list[NewEvent] = field(default_factory=list)
    by_id: int = 0
    by_content: int = 0


def _dedup(
    poll: _Poll,
    seen_ids: set[tuple[str, str]],
    seen_content: dict[tuple[str, str, int | None], float],
) -> _Plan:
    """Which of the poll's messages are new (checked against the batch itself too)."""
    plan = _Plan()
    account = poll.account_id
    for event in poll.incoming:
        content = (account, event.fingerprint, event.create_time_ms)
        if event.message_id is not None and (account, event.message_id) in seen_ids:
            plan.by_id += 1
            continue
        if poll.since is not None and seen_content.get(content, float("-inf")) >= poll.since:
            plan.by_content += 1
            continue
        if event.message_id is not None:
            seen_ids.add((account, event.message_id))
        seen_content[content] = float("inf")  # stored now: newer than any window start
        plan.fresh.append(event)
    return plan


def _build_stored_keys(dialect: str) -> Select[Any]:
    """What a group of polls could duplicate."""
    in_accounts = in_values(events.c.account_id, "accounts", dialect)
    return select(
        events.c.account_id,
        events.c.message_id,
        events.c.fingerprint,
        events.c.create_time_ms,
        events.c.created_at,
    ).where(
        # each side of the OR leads with an index's columns: both databases search both indexes
        or_(
            and_(in_accounts, in_values(events.c.message_id, "ids", dialect)),
            and_(
                in_accounts,
                in_values(events.c.fingerprint, "fingerprints", dialect),
                events.c.created_at >= bindparam("since"),
            ),
        ),
    )


_STORED_KEYS: Final = CompiledStatement(_build_stored_keys)

#: The columns a new event leaves empty.
_UNSET_ON_INSERT: Final[dict[str, Any]] = dict.fromkeys(
    (
        "claim_worker",
        "claimed_at",
        "lease_expires_at",
        "delivered_at",
        "completed_at",
        "failed_at",
    )
)
#: The columns :func:`_insert` binds: all but those and ``seq`` (the database assigns it).
_INSERTED: Final = tuple(c.name for c in events.c if c.name not in {*_UNSET_ON_INSERT, "seq"})
#: The row counts of the multi-row INSERTs a group is split into (largest first): one
#: statement for up to eight rows, and few forms to compile.
_INSERT_SIZES: Final = (128, 64, 32, 16, 8, 7, 6, 5, 4, 3, 2, 1)


def _build_insert(dialect: str, n_rows: int) -> ReturningInsert[Any]:
    """One multi-row INSERT of ``n_rows`` events; the new rows' ids and seqs come back."""
    return (
        insert(events)
        .values([{c: bindparam(f"{c}{i}") for c in _INSERTED} for i in range(n_rows)])
        .returning(events.c.id, events.c.seq)
    )


_INSERT: Final = CompiledStatement(_build_insert)


def _build_mark_delivered(dialect: str) -> ReturningUpdate[Any]:
    return (
        update(events)
        .where(in_values(events.c.seq, "seqs", dialect))
        .values(
            status="delivered",
            attempts=events.c.attempts + 1,
            delivered_at=bindparam("now"),
            error="",
            updated_at=bindparam("now"),
        )
        .returning(events.c.seq)
    )


_MARK_DELIVERED: Final = CompiledStatement(_build_mark_delivered)

#: A poll's bookkeeping on its account: when it finished, the new cursor (kept when the poll
#: brought none), how many it forwarded (kept when none).
_RECORD_POLL: Final = CompiledStatement(
    lambda dialect: (
        update(accounts)
        .where(accounts.c.account_id == bindparam("a_id"))
        .values(
            last_poll_finished_at=bindparam("a_now"),
            last_error="",
            cursor=func.coalesce(bindparam("a_cursor"), accounts.c.cursor),
            last_forwarded=func.coalesce(bindparam("a_forwarded"), accounts.c.last_forwarded),
        )
    )
)


def _conflict_of(row: Any) -> ClaimConflict | None:
    """Why an inbox action did not apply to ``row`` (None: there is no such message)."""
    if row is None:
        return None
    record = EventRecord.from_row(row)
    if record.mode != "inbox":
        return ClaimConflict("delivered by callback" if record.status != "dead" else "dead")
    if record.status == "claimed":
        return ClaimConflict("claimed", record.claim_worker, record.lease_expires_at)
    return ClaimConflict(record.status if record.ready else "preparing")


def _named(idents: Sequence[str]) -> ColumnElement[bool]:
    """The messages ``idents`` names, each by its message id or its event id."""
    return or_(events.c.id.in_(idents), events.c.event_id.in_(idents))


def _by_ident(rows: Iterable[Any]) -> dict[str, Any]:
    """``rows`` under both of their ids (message id and event id)."""
    return {ident: row for row in rows for ident in (row.id, row.event_id)}


def _ingest_polls(
    connection: Connection, *, polls: Sequence[_Poll], now: float
) -> list[IngestResult]:
    """Store a group of polls (see :meth:`EventStore.ingest`): four statements in all."""
    seen_ids, seen_content = _stored_keys(connection, polls)
    plans = [_dedup(poll, seen_ids, seen_content) for poll in polls]
    stored = _insert(
        connection,
        [(poll, event) for poll, plan in zip(polls, plans, strict=True) for event in plan.fresh],
        now,
    )
    contexts = {
        (poll.account_id, e.user_id): e.context_token
        for poll, plan in zip(polls, plans, strict=True)
        for e in plan.fresh
        if e.context_token
    }
    _REMEMBER_CONTEXT.many(
        connection,
        (
            {
                "account_id": account_id,
                "user_id": user_id,
                "context_token": token,
                "updated_at": now,
            }
            for (account_id, user_id), token in contexts.items()
        ),
    )
    _RECORD_POLL.many(
        connection,
        (
            {
                "a_id": poll.account_id,
                "a_now": now,
                "a_cursor": poll.cursor or None,
                "a_forwarded": len(plan.fresh) or None,
            }
            for poll, plan in zip(polls, plans, strict=True)
        ),
    )
    results = []
    position = 0
    for plan in plans:
        mine = stored[position : position + len(plan.fresh)]
        position += len(plan.fresh)
        results.append(IngestResult(mine, plan.by_id, plan.by_content))
    return results


def _stored_keys(
    connection: Connection, polls: Sequence[_Poll]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str, int | None], float]]:
    """What the polls' messages could duplicate: stored ``(account, message_id)`` pairs, and
    stored ``(account, fingerprint, create_time_ms)`` with the time each was stored."""
    since = min((p.since for p in polls if p.since is not None), default=None)
    params = {
        "accounts": sorted({p.account_id for p in polls}),
        "ids": sorted({e.message_id for p in polls for e in p.incoming if e.message_id}),
        "fingerprints": sorted(
            {e.fingerprint for p in polls if p.since is not None for e in p.incoming}
        ),
        "since": since if since is not None else float("inf"),
    }
    ids_seen: set[tuple[str, str]] = set()
    content_seen: dict[tuple[str, str, int | None], float] = {}
    if not params["ids"] and not params["fingerprints"]:
        return ids_seen, content_seen
    # a superset when accounts are polled together: _dedup checks each pair for its account
    rows = _STORED_KEYS.rows(connection, params)
    for account_id, message_id, fingerprint, create_time, created_at in rows:
        if message_id is not None:
            ids_seen.add((str(account_id), str(message_id)))
        key = (str(account_id), str(fingerprint), None if create_time is None else int(create_time))
        content_seen[key] = max(float(created_at), content_seen.get(key, float("-inf")))
    return ids_seen, content_seen


def _insert(
    connection: Connection, fresh: Sequence[tuple[_Poll, NewEvent]], now: float
) -> list[EventRecord]:
    if not fresh:
        return []
    rows: list[dict[str, Any]] = [
        {
            "id": new_id("msg"),
            "event_id": new_id("evt"),
            "account_id": poll.account_id,
            "message_id": event.message_id,
            "fingerprint": event.fingerprint,
            "create_time_ms": event.create_time_ms,
            "chat_id": event.chat_id,
            "user_id": event.user_id,
            "text": event.text,
            "context_token": event.context_token,
            "attachments": json.dumps(event.attachments, ensure_ascii=False),
            "raw": json.dumps(event.raw, ensure_ascii=False),
            "mode": poll.mode,
            "status": "pending",
            "ready": event.ready,
            "attempts": 0,
            "next_attempt_at": 0.0,
            "error": "",
            "completion_note": "",
            "created_at": now,
            "updated_at": now,
        }
        for poll, event in fresh
    ]
    # multi-row INSERTs; seq follows the order of the rows. Only the seqs come back, in any order
    seqs: dict[str, int] = {}
    start = 0
    while start < len(rows):
        size = next(n for n in _INSERT_SIZES if n <= len(rows) - start)
        chunk = rows[start : start + size]
        params = {f"{c}{i}": row[c] for i, row in enumerate(chunk) for c in _INSERTED}
        inserted = _INSERT.rows(connection, params, size)
        seqs.update((str(ident), int(seq)) for ident, seq in inserted)
        start += size
    return [
        EventRecord(
            **{**row, "attachments": event.attachments, "raw": event.raw},
            seq=seqs[str(row["id"])],
            **_UNSET_ON_INSERT,
        )
        for row, (_, event) in zip(rows, fresh, strict=True)
    ]


def _mark_delivered(connection: Connection, *, seqs: Sequence[int], now: float) -> set[int]:
    """Which of ``seqs`` exist; those are now delivered (one more attempt each)."""
    rows = _MARK_DELIVERED.rows(connection, {"seqs": seqs, "now": now})
    return {int(seq) for (seq,) in rows}


class EventStore(TableGateway):
    """The ``events`` table (and the cursor and context tokens written with it)."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        super().__init__(engine, clock=clock)
        self._ingests = GroupCommit(self._ingest_polls)

    # --- writing what a poll brought ----------------------------------------------------------

    async def ingest(
        self,
        account_id: str,
        incoming: Sequence[NewEvent],
        cursor: str,
        *,
        mode: DeliveryMode,
        dedup_window_s: float,
    ) -> IngestResult:
        """Store a poll's messages and its new cursor in one transaction; drop re-deliveries.

        A message is a re-delivery when its ``message_id`` is already stored for the account,
        or when the same sender sent the same content (``fingerprint``) with the same
        ``create_time_ms`` within ``dedup_window_s`` (0: no such check).

        Polls of several accounts that finish while another is being stored are stored
        together (:class:`GroupCommit`): four statements for the whole group, whatever its
        size (the duplicate lookup, one multi-row insert, the context tokens, the cursors).
        """
        since = self.clock.time() - dedup_window_s if dedup_window_s > 0 else None
        return await self._ingests.submit(_Poll(account_id, incoming, cursor, mode, since))

    async def _ingest_polls(self, polls: Sequence[_Poll]) -> list[IngestResult]:
        return await self.transaction(partial(_ingest_polls, polls=polls, now=self.clock.time()))

    async def set_media(
        self, seq: int, attachments: list[dict[str, Any]], text_: str
    ) -> EventRecord | None:
        """Save a message's downloaded attachments and its final text; it becomes ready."""
        return await self._update(
            seq,
            attachments=json.dumps(attachments, ensure_ascii=False),
            text=text_,
            ready=True,
        )

    # --- reading ------------------------------------------------------------------------------

    async def get(self, ident: str) -> EventRecord | None:
        """By inbox message id (``msg-…``) or event id (``evt-…``)."""
        query = select(events).where(or_(events.c.id == ident, events.c.event_id == ident))
        async with self.read() as connection:
            row = (await connection.execute(query)).first()
        return EventRecord.from_row(row) if row is not None else None

    async def get_by_seq(self, seq: int) -> EventRecord | None:
        async with self.read() as connection:
            row = (await connection.execute(select(events).where(events.c.seq == seq))).first()
        return EventRecord.from_row(row) if row is not None else None

    async def search(
        self,
        *,
        status: str | None = None,
        limit: int = 20,
        account_id: str | None = None,
        mode: str | None = None,
        after_seq: int = 0,
    ) -> list[EventRecord]:
        """Oldest first. Status ``pending`` includes claims whose lease has run out."""
        now = self.clock.time()
        query = select(events).where(events.c.seq > after_seq)
        if status == "pending":
            query = query.where(
                events.c.ready.is_(True),
                or_(
                    events.c.status == "pending",
                    and_(events.c.status == "claimed", events.c.lease_expires_at <= now),
                ),
            )
        elif status == "claimed":
            query = query.where(events.c.status == "claimed", events.c.lease_expires_at > now)
        elif status is not None:
            query = query.where(events.c.status == status)
        if account_id:
            query = query.where(events.c.account_id == account_id)
        if mode:
            query = query.where(events.c.mode == mode)
        query = query.order_by(events.c.seq).limit(limit)
        async with self.read() as connection:
            rows = await connection.execute(query)
        return [EventRecord.from_row(r) for r in rows]

    async def count_by_status(self) -> dict[tuple[str, str], int]:
        query = select(events.c.mode, events.c.status, func.count()).group_by(
            events.c.mode, events.c.status
        )
        async with self.read() as connection:
            rows = await connection.execute(query)
        return {(str(m), str(s)): int(n) for m, s, n in rows}

    async def unready(self) -> list[EventRecord]:
        """Messages whose media was not yet saved (after a restart), oldest first."""
        query = select(events).where(events.c.ready.is_(False)).order_by(events.c.seq)
        async with self.read() as connection:
            rows = await connection.execute(query)
        return [EventRecord.from_row(r) for r in rows]

    async def pending_callbacks(self) -> list[tuple[int, str, str]]:
        """``(seq, account_id, chat_id)`` of every callback event not yet delivered or dead."""
        query = (
            select(events.c.seq, events.c.account_id, events.c.chat_id)
            .where(events.c.mode == "callback", events.c.status == "pending")
            .order_by(events.c.seq)
        )
        async with self.read() as connection:
            rows = await connection.execute(query)
        return [(int(s), str(a), str(c)) for s, a, c in rows]

    # --- delivery mode changes ----------------------------------------------------------------

    async def adopt_mode(self, mode: DeliveryMode) -> int:
        """Hand undelivered events of the other mode to ``mode`` (after a mode switch)."""
        now = self.clock.time()
        async with self.write() as connection:
            result = await connection.execute(
                update(events)
                .where(events.c.mode != mode, events.c.status.in_(("pending", "failed")))
                .values(mode=mode, status="pending", updated_at=now)
            )
        return int(result.rowcount)

    # --- callback delivery --------------------------------------------------------------------

    async def mark_delivered(self, seq: int) -> bool:
        """Delivered (one more attempt); False for no such event."""
        return (await self.mark_delivered_many([seq]))[0]

    async def mark_delivered_many(self, seqs: Sequence[int]) -> list[bool]:
        """Mark events delivered (one more attempt each) in one transaction; which existed."""
        found = await self.transaction(partial(_mark_delivered, seqs=seqs, now=self.clock.time()))
        return [seq in found for seq in seqs]

    async def mark_retry(
        self, seq: int, *, next_attempt_at: float, error: str
    ) -> EventRecord | None:
        return await self._update(
            seq, attempts=events.c.attempts + 1, next_attempt_at=next_attempt_at, error=error
        )

    async def mark_dead(self, seq: int, *, error: str) -> EventRecord | None:
        now = self.clock.time()
        return await self._update(
            seq, status="dead", attempts=events.c.attempts + 1, error=error, failed_at=now
        )

    async def redeliver(
        self, *, ids: Sequence[str] = (), account_id: str | None = None, all_dead: bool = False
    ) -> list[EventRecord]:
        """Put ``dead`` events (the given ones, or all of them) back to ``pending``, attempts 0."""
        now = self.clock.time()
        condition: ColumnElement[bool] = events.c.status == "dead"
        if not all_dead:
            condition = and_(condition, or_(events.c.id.in_(ids), events.c.event_id.in_(ids)))
        if account_id:
            condition = and_(condition, events.c.account_id == account_id)
        async with self.write() as connection:
            rows = await connection.execute(
                update(events)
                .where(condition)
                .values(
                    status="pending",
                    attempts=0,
                    next_attempt_at=0.0,
                    error="",
                    claim_worker=None,
                    claimed_at=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .returning(events)
            )
            records = [EventRecord.from_row(r) for r in rows]
        return sorted(records, key=lambda r: r.seq)

    # --- inbox --------------------------------------------------------------------------------

    async def claim(
        self, ident: str, worker: str, lease_s: float
    ) -> EventRecord | ClaimConflict | None:
        """Claim one inbox message for ``worker``: the record, a :class:`ClaimConflict`, or
        ``None`` when there is no such message. The holder may renew its own claim."""
        now = self.clock.time()
        by_ident = or_(events.c.id == ident, events.c.event_id == ident)
        claimable = or_(
            _claimable(now), and_(events.c.status == "claimed", events.c.claim_worker == worker)
        )
        async with self.write() as connection:
            result = await connection.execute(
                update(events)
                .where(by_ident, events.c.mode == "inbox", events.c.ready.is_(True), claimable)
                .values(**_claim(worker, now, lease_s))
                .returning(events)
            )
            row = result.first()
            if row is not None:
                return EventRecord.from_row(row)
            current = (await connection.execute(select(events).where(by_ident))).first()
        return _conflict_of(current)

    async def claim_batch(
        self, worker: str, limit: int, lease_s: float, *, account_id: str | None = None
    ) -> list[EventRecord]:
        """Claim up to ``limit`` of the oldest claimable inbox messages in one transaction."""
        now = self.clock.time()
        pick = select(events.c.seq).where(
            events.c.mode == "inbox", events.c.ready.is_(True), _claimable(now)
        )
        if account_id:
            pick = pick.where(events.c.account_id == account_id)
        pick = pick.order_by(events.c.seq).limit(limit)
        if not self.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        claim = update(events).values(**_claim(worker, now, lease_s)).returning(events)

        def claim_picked(connection: Connection) -> list[EventRecord]:
            seqs = [int(s) for s in connection.execute(pick).scalars()]
            if not seqs:
                return []
            rows = connection.execute(claim.where(events.c.seq.in_(seqs), _claimable(now)))
            return sorted((EventRecord.from_row(r) for r in rows), key=lambda r: r.seq)

        return await self.transaction(claim_picked)

    async def complete(self, ident: str, *, worker: str | None, note: str) -> Settled:
        """Mark a message ``completed`` (by its holder when ``worker`` is given)."""
        return (await self.complete_batch([ident], worker=worker, note=note))[ident]

    async def fail(
        self, ident: str, *, worker: str | None, error: str, max_attempts: int
    ) -> Settled:
        """Mark a message ``failed`` (claimable again), or ``dead`` past ``max_attempts``."""
        outcomes = await self.fail_batch(
            [ident], worker=worker, error=error, max_attempts=max_attempts
        )
        return outcomes[ident]

    async def complete_batch(
        self, idents: Sequence[str], *, worker: str | None, note: str
    ) -> dict[str, Settled]:
        """:meth:`complete` for many messages in one transaction (see :meth:`_settle`)."""
        now = self.clock.time()
        return await self._settle(
            idents, worker, status="completed", completion_note=note, completed_at=now, error=""
        )

    async def fail_batch(
        self, idents: Sequence[str], *, worker: str | None, error: str, max_attempts: int
    ) -> dict[str, Settled]:
        """:meth:`fail` for many messages in one transaction (see :meth:`_settle`)."""
        now = self.clock.time()
        status = case((events.c.attempts + 1 >= max_attempts, "dead"), else_="failed")
        return await self._settle(
            idents,
            worker,
            status=status,
            error=error,
            failed_at=now,
            attempts=events.c.attempts + 1,
        )

    async def _settle(
        self, idents: Sequence[str], worker: str | None, **values: Any
    ) -> dict[str, Settled]:
        """Set ``values`` on the inbox messages ``idents`` names (message or event ids) that may
        be settled, in one transaction; each ident's outcome, in request order.

        An outcome is the updated record, a :class:`ClaimConflict` saying why not, or ``None``
        for an unknown ident; an ident given twice (or a message named by both of its ids) is
        settled once. One ``UPDATE … RETURNING`` settles the batch; a ``SELECT`` of the
        messages it did not settle follows only when there are some.
        """
        wanted = list(dict.fromkeys(idents))
        if not wanted:
            return {}
        now = self.clock.time()
        allowed: ColumnElement[bool] = events.c.status.in_(("pending", "claimed", "failed"))
        if worker:
            # the holder, or anybody once the lease has run out
            allowed = or_(
                and_(events.c.status == "claimed", events.c.claim_worker == worker),
                events.c.status.in_(CLAIMABLE),
                and_(events.c.status == "claimed", events.c.lease_expires_at <= now),
            )
        settle = (
            update(events)
            .where(_named(wanted), events.c.mode == "inbox", events.c.ready.is_(True), allowed)
            .values(claim_worker=None, lease_expires_at=None, updated_at=now, **values)
            .returning(events)
        )

        def settle_wanted(connection: Connection) -> dict[str, Settled]:
            settled = _by_ident(connection.execute(settle))
            missed = [ident for ident in wanted if ident not in settled]
            current: dict[str, Any] = {}
            if missed:
                current = _by_ident(connection.execute(select(events).where(_named(missed))))
            return {
                ident: EventRecord.from_row(settled[ident])
                if ident in settled
                else _conflict_of(current.get(ident))
                for ident in wanted
            }

        return await self.transaction(settle_wanted)

    # --- helpers ------------------------------------------------------------------------------

    async def _update(self, seq: int, **values: Any) -> EventRecord | None:
        values.setdefault("updated_at", self.clock.time())
        async with self.write() as connection:
            result = await connection.execute(
                update(events).where(events.c.seq == seq).values(**values).returning(events)
            )
            row = result.first()
        return EventRecord.from_row(row) if row is not None else None
