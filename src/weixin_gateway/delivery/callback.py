"""Callback delivery: POST every stored event to the upstream, in order per conversation.

The database is the queue: an event is ``pending`` until the upstream answered 2xx (then
``delivered``) or the retry budget is spent (then ``dead``, listed and re-deliverable). This
class only schedules: one worker per conversation (account + chat) that has something pending,
so the events of one user reach the upstream one at a time and in order, while a conversation
whose upstream call fails or hangs never holds up any other. A process-wide semaphore bounds
the calls in flight.

A 2xx answer is recorded in the background: the marks of the events delivered in the last few
milliseconds are written together (one transaction), so a conversation's next event goes out
without waiting for the database. A crash before the write re-delivers those events after the
restart, in order and under the same ``event_id`` (at least once, as below).

A failed attempt (connection error, timeout, non-2xx) is retried after an exponential delay with
jitter (``base · 2^(attempt-1)``, capped, times a random factor in ``[0.5, 1]``); the conversation
waits meanwhile, keeping its order. On start-up every ``pending`` event is scheduled again, so a
restart loses nothing; an event may then reach the upstream twice (at least once), always under
the same ``event_id``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.delivery.events import stored_event
from weixin_gateway.delivery.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from weixin_gateway.ilink.keepalive import ConnectionFailed, KeepAliveConnection, ReplyTooLarge
from weixin_gateway.store.events import EventRecord, EventStore

__all__ = ["CallbackConfig", "CallbackDispatcher"]

log = logging.getLogger(__name__)

#: After a store error, the conversation's worker tries again this much later.
STORE_RETRY_S = 1.0
#: An event waiting for its media is looked at again this often even if nobody wakes it.
READY_RECHECK_S = 5.0
#: Delivered marks are written this long after the first of them, together.
MARK_WINDOW_S = 0.01
#: The largest upstream answer read; a longer one still counts by its status.
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "weixin-gateway"

Observer = Callable[[str, float | None], None]
"""Called with an outcome (``delivered``, ``retry``, ``dead``) and, when delivered, the seconds
since the event was stored."""


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """Where and how to deliver. Times in seconds."""

    url: str
    secret: str = field(default="", repr=False)
    timeout_s: float = 10.0
    max_attempts: int = 12
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    concurrency: int = 256

    def retry_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after the ``attempt``-th failed attempt (1-based)."""
        ceiling = min(self.retry_max_s, self.retry_base_s * float(2 ** max(0, attempt - 1)))
        return float(ceiling * (rng or random).uniform(0.5, 1.0))


@dataclass(slots=True, eq=False)
class _Conversation:
    seqs: list[int] = field(default_factory=list)  # sorted: the oldest event first
    members: set[int] = field(default_factory=set)
    #: events as they were just stored: the first look at one needs no read from the store
    fresh: dict[int, EventRecord] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class _DeliveredMarks:
    """Delivered events whose mark is not written yet; written every :data:`MARK_WINDOW_S`,
    retried on a store error, flushed on close."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._pending: set[int] = set()
        self._writing: set[int] = set()
        self._writer: asyncio.Task[None] | None = None

    def __contains__(self, seq: int) -> bool:
        return seq in self._pending or seq in self._writing

    def add(self, seq: int) -> None:
        self._pending.add(seq)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="marks")

    async def _run(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(MARK_WINDOW_S)
                if not await self._write():
                    await asyncio.sleep(STORE_RETRY_S)
        finally:
            self._writer = None

    async def _write(self) -> bool:
        self._writing, self._pending = self._pending, set()
        try:
            await self._store.mark_delivered_many(sorted(self._writing))
        except Exception:
            log.exception("could not mark %d delivered events; retrying", len(self._writing))
            self._pending |= self._writing
            return False
        finally:
            self._writing = set()
        return True

    async def close(self) -> None:
        """Write what is waiting (once; after a failure those events are delivered again)."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._pending:
            await self._write()


class CallbackDispatcher:
    """Schedules callback deliveries of the events in ``store``; see the module docstring."""

    def __init__(
        self,
        store: EventStore,
        config: CallbackConfig,
        *,
        clock: Clock | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.store = store
        self.config = config
        # kept-alive connections to the upstream: 0.4× the CPU of aiohttp per POST
        # (ilink/keepalive.py, benchmarks poll-transport); as many kept as calls may run
        self._http = KeepAliveConnection(
            max_body=MAX_ANSWER_BYTES, max_idle=min(config.concurrency, 64)
        )
        self.clock: Clock = clock or SystemClock()
        self.observer = observer
        self._conversations: dict[tuple[str, str], _Conversation] = {}
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._marks = _DeliveredMarks(store)
        self._closed = False

    def __repr__(self) -> str:
        return f"CallbackDispatcher(url={self.config.url!r})"

    @property
    def in_flight(self) -> int:
        """Conversations with events waiting or being delivered."""
        return len(self._conversations)

    async def start(self) -> int:
        """Schedule every pending callback event in the store; return how many. Safe to call
        again (events already scheduled are not scheduled twice)."""
        pending = await self.store.pending_callbacks()
        for seq, account_id, chat_id in pending:
            self._add(seq, (account_id, chat_id))
        return len(pending)

    def enqueue(self, record: EventRecord) -> None:
        """Schedule a stored (or re-delivered) event; ``record`` must be as the store has it now
        (it is used for the first attempt instead of reading the row again)."""
        self._add(record.seq, record.conversation, record)

    def wake(self, account_id: str, chat_id: str) -> None:
        """Something changed for a conversation (media saved): look again now."""
        conversation = self._conversations.get((account_id, chat_id))
        if conversation is not None:
            conversation.wake.set()

    async def close(self) -> None:
        """Stop every worker (events stay ``pending`` and are delivered after a restart)."""
        self._closed = True
        tasks = [c.task for c in self._conversations.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._conversations.clear()
        await self._marks.close()
        await self._http.close()

    # --- internals ----------------------------------------------------------------------------

    def _add(self, seq: int, key: tuple[str, str], record: EventRecord | None = None) -> None:
        if self._closed or seq in self._marks:  # delivered; the store does not know yet
            return
        conversation = self._conversations.get(key)
        if conversation is None:
            conversation = self._conversations[key] = _Conversation()
        if record is not None:
            conversation.fresh[seq] = record
        if seq not in conversation.members:
            conversation.members.add(seq)
            bisect.insort(conversation.seqs, seq)
        conversation.wake.set()
        if conversation.task is None:
            conversation.task = asyncio.get_running_loop().create_task(
                self._run(key, conversation), name=f"callback {key[0]}/{key[1]}"
            )

    async def _run(self, key: tuple[str, str], conversation: _Conversation) -> None:
        try:
            while conversation.seqs:
                conversation.wake.clear()
                seq = conversation.seqs[0]
                try:
                    if await self._step(seq, conversation):
                        conversation.seqs.remove(seq)
                        conversation.members.discard(seq)
                        conversation.fresh.pop(seq, None)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the store failed: the event is still pending; try again
                    log.exception("callback worker for %s: store error; retrying", key)
                    await asyncio.sleep(STORE_RETRY_S)
        finally:
            if self._conversations.get(key) is conversation:
                del self._conversations[key]

    async def _step(self, seq: int, conversation: _Conversation) -> bool:
        """One look at the conversation's oldest event; True when it is finished with."""
        record = conversation.fresh.pop(seq, None) or await self.store.get_by_seq(seq)
        if record is None or record.status != "pending" or record.mode != "callback":
            return True
        if not record.ready:  # media still downloading: wait to be woken (or look again)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_RECHECK_S):
                    await conversation.wake.wait()
            return False
        delay = record.next_attempt_at - self.clock.time()
        if delay > 0:
            try:
                async with asyncio.timeout(delay):
                    await conversation.wake.wait()
            except TimeoutError:
                pass
            return False
        return await self._attempt(record)

    async def _attempt(self, record: EventRecord) -> bool:
        """POST the event once and record the outcome; True when the event is finished with."""
        body = json.dumps(stored_event(record), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: record.event_id,
        }
        if self.config.secret:
            headers["Authorization"] = f"Bearer {self.config.secret}"
            headers[SIGNATURE_HEADER] = sign(self.config.secret, body, int(time.time()))
        async with self._semaphore:
            error = await self._post(body, headers)
        attempt = record.attempts + 1
        if error is None:
            self._marks.add(record.seq)
            self._observe("delivered", max(0.0, self.clock.time() - record.created_at))
            return True
        if attempt >= self.config.max_attempts:
            log.warning("event %s is dead after %d attempts: %s", record.event_id, attempt, error)
            await self.store.mark_dead(record.seq, error=error)
            self._observe("dead", None)
            return True
        delay = self.config.retry_delay(attempt)
        log.info(
            "event %s attempt %d failed (%s); retrying in %.1f s",
            record.event_id,
            attempt,
            error,
            delay,
        )
        after = await self.store.mark_retry(
            record.seq, next_attempt_at=self.clock.time() + delay, error=error
        )
        self._observe("retry", None)
        return after is None or after.status != "pending"

    async def _post(self, body: bytes, headers: dict[str, str]) -> str | None:
        """POST once; None on a 2xx, else what went wrong."""
        try:
            status, _ = await self._http.post(
                self.config.url, headers, body, timeout=self.config.timeout_s
            )
        except TimeoutError:
            return f"upstream did not answer within {self.config.timeout_s:g} s"
        except ReplyTooLarge as exc:  # a long answer: only its status matters
            status = exc.status
        except ConnectionFailed as exc:
            return f"upstream unreachable: {exc}"
        if 200 <= status < 300:
            return None
        return f"upstream answered HTTP {status}"

    def _observe(self, outcome: str, latency: float | None) -> None:
        if self.observer is not None:
            self.observer(outcome, latency)
