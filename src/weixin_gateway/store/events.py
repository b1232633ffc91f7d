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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from weixin_gateway.store._base import TableGateway
from weixin_gateway.store.tables import accounts, events

__all__ = [
    "CLAIMABLE",
    "ClaimConflict",
    "EventRecord",
    "EventStore",
    "IngestResult",
    "NewEvent",
]

DeliveryMode = Literal["callback", "inbox"]
CLAIMABLE: Final = ("pending", "failed")
INBOX_STATUSES: Final = ("pending", "claimed", "completed", "failed", "dead")
CALLBACK_STATUSES: Final = ("pending", "delivered", "dead")

_REMEMBER_CONTEXT: Final = text(
    "INSERT INTO context_tokens (account_id, user_id, context_token, updated_at) "
    "VALUES (:account_id, :user_id, :context_token, :updated_at) "
    "ON CONFLICT (account_id, user_id) DO UPDATE "
    "SET context_token = excluded.context_token, updated_at = excluded.updated_at"
)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


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


class EventStore(TableGateway):
    """The ``events`` table (and the cursor and context tokens written with it)."""

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
        ``create_time_ms`` within ``dedup_window_s`` (0: no such check). Three statements
        whatever the batch's size: the duplicate lookups, one multi-row insert, the cursor.
        """
        now = self.clock.time()
        fresh: list[NewEvent] = []
        by_id = by_content = 0
        async with self.write() as connection:
            seen_ids = await self._stored_ids(connection, account_id, incoming)
            seen_content = await self._stored_content(
                connection, account_id, incoming, now - dedup_window_s
            )
            for event in incoming:  # checked against the batch itself too
                content = (event.fingerprint, event.create_time_ms)
                if event.message_id is not None and event.message_id in seen_ids:
                    by_id += 1
                    continue
                if dedup_window_s > 0 and content in seen_content:
                    by_content += 1
                    continue
                if event.message_id is not None:
                    seen_ids.add(event.message_id)
                seen_content.add(content)
                fresh.append(event)
            stored = await self._insert(connection, account_id, fresh, mode, now)
            contexts = {e.user_id: e.context_token for e in fresh if e.context_token}
            if contexts:
                await connection.execute(
                    _REMEMBER_CONTEXT,
                    [
                        {
                            "account_id": account_id,
                            "user_id": user_id,
                            "context_token": token,
                            "updated_at": now,
                        }
                        for user_id, token in contexts.items()
                    ],
                )
            values: dict[str, Any] = {"last_poll_finished_at": now, "last_error": ""}
            if cursor:
                values["cursor"] = cursor
            if stored:
                values["last_forwarded"] = len(stored)
            await connection.execute(
                update(accounts).where(accounts.c.account_id == account_id).values(**values)
            )
        return IngestResult(stored, by_id, by_content)

    async def _stored_ids(
        self, connection: AsyncConnection, account_id: str, incoming: Sequence[NewEvent]
    ) -> set[str]:
        """Which of the batch's message ids the account has stored already."""
        wanted = {e.message_id for e in incoming if e.message_id is not None}
        if not wanted:
            return set()
        query = select(events.c.message_id).where(
            events.c.account_id == account_id, events.c.message_id.in_(wanted)
        )
        return {str(v) for v in (await connection.execute(query)).scalars()}

    async def _stored_content(
        self,
        connection: AsyncConnection,
        account_id: str,
        incoming: Sequence[NewEvent],
        since: float,
    ) -> set[tuple[str, int | None]]:
        """(fingerprint, create_time_ms) of the batch's contents stored since ``since``."""
        wanted = {e.fingerprint for e in incoming}
        if not wanted:
            return set()
        query = select(events.c.fingerprint, events.c.create_time_ms).where(
            events.c.account_id == account_id,
            events.c.fingerprint.in_(wanted),
            events.c.created_at >= since,
        )
        rows = await connection.execute(query)
        return {(str(fp), None if t is None else int(t)) for fp, t in rows}

    async def _insert(
        self,
        connection: AsyncConnection,
        account_id: str,
        fresh: Sequence[NewEvent],
        mode: DeliveryMode,
        now: float,
    ) -> list[EventRecord]:
        if not fresh:
            return []
        rows = [
            {
                "id": new_id("msg"),
                "event_id": new_id("evt"),
                "account_id": account_id,
                "message_id": event.message_id,
                "fingerprint": event.fingerprint,
                "create_time_ms": event.create_time_ms,
                "chat_id": event.chat_id,
                "user_id": event.user_id,
                "text": event.text,
                "context_token": event.context_token,
                "attachments": json.dumps(event.attachments, ensure_ascii=False),
                "raw": json.dumps(event.raw, ensure_ascii=False),
                "mode": mode,
                "status": "pending",
                "ready": event.ready,
                "attempts": 0,
                "next_attempt_at": 0.0,
                "error": "",
                "completion_note": "",
                "created_at": now,
                "updated_at": now,
            }
            for event in fresh
        ]
        result = await connection.execute(
            insert(events).returning(events, sort_by_parameter_order=True), rows
        )
        return [EventRecord.from_row(row) for row in result]

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

    async def mark_delivered(self, seq: int) -> EventRecord | None:
        now = self.clock.time()
        return await self._update(
            seq, status="delivered", attempts=events.c.attempts + 1, delivered_at=now, error=""
        )

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
        async with self.write() as connection:
            seqs = [int(s) for s in (await connection.execute(pick)).scalars()]
            if not seqs:
                return []
            rows = await connection.execute(
                update(events)
                .where(events.c.seq.in_(seqs), _claimable(now))
                .values(**_claim(worker, now, lease_s))
                .returning(events)
            )
            records = [EventRecord.from_row(r) for r in rows]
        return sorted(records, key=lambda r: r.seq)

    async def complete(
        self, ident: str, *, worker: str | None, note: str
    ) -> EventRecord | ClaimConflict | None:
        """Mark a message ``completed`` (by its holder when ``worker`` is given)."""
        now = self.clock.time()
        return await self._settle(
            ident, worker, status="completed", completion_note=note, completed_at=now, error=""
        )

    async def fail(
        self, ident: str, *, worker: str | None, error: str, max_attempts: int
    ) -> EventRecord | ClaimConflict | None:
        """Mark a message ``failed`` (claimable again), or ``dead`` past ``max_attempts``."""
        now = self.clock.time()
        status = case((events.c.attempts + 1 >= max_attempts, "dead"), else_="failed")
        return await self._settle(
            ident,
            worker,
            status=status,
            error=error,
            failed_at=now,
            attempts=events.c.attempts + 1,
        )

    async def _settle(
        self, ident: str, worker: str | None, **values: Any
    ) -> EventRecord | ClaimConflict | None:
        now = self.clock.time()
        by_ident = or_(events.c.id == ident, events.c.event_id == ident)
        allowed: ColumnElement[bool] = events.c.status.in_(("pending", "claimed", "failed"))
        if worker:
            # the holder, or anybody once the lease has run out
            allowed = or_(
                and_(events.c.status == "claimed", events.c.claim_worker == worker),
                events.c.status.in_(CLAIMABLE),
                and_(events.c.status == "claimed", events.c.lease_expires_at <= now),
            )
        async with self.write() as connection:
            result = await connection.execute(
                update(events)
                .where(by_ident, events.c.mode == "inbox", events.c.ready.is_(True), allowed)
                .values(claim_worker=None, lease_expires_at=None, updated_at=now, **values)
                .returning(events)
            )
            row = result.first()
            if row is not None:
                return EventRecord.from_row(row)
            current = (await connection.execute(select(events).where(by_ident))).first()
        return _conflict_of(current)

    # --- helpers ------------------------------------------------------------------------------

    async def _update(self, seq: int, **values: Any) -> EventRecord | None:
        values.setdefault("updated_at", self.clock.time())
        async with self.write() as connection:
            result = await connection.execute(
                update(events).where(events.c.seq == seq).values(**values).returning(events)
            )
            row = result.first()
        return EventRecord.from_row(row) if row is not None else None
