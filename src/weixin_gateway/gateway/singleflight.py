"""Keyed single-flight with a short outcome cache: one job per key, however often it is asked for.

WeChat re-sends a push it got no answer to (3 attempts, about 5 s apart) and sometimes delivers
one twice. :class:`SingleFlight` makes every delivery of one push (one dedupe key) share one
:class:`Flight`: the first delivery starts the job, a delivery that arrives while the job runs
waits for the same job, and one that arrives after it finished finds its outcome, kept
``ttl_s`` seconds after completion (official-account.md §4.4; go-wx-gateway forwarded every
retry, defect D6).

The job runs in its own task, so it survives the request that started it: WeChat drops a
connection after 5 s, and the job must still finish (and deliver its answer another way). Each
:class:`Flight` carries a ``late`` flag for that hand-over; the owner of the job decides what it
means (see :mod:`weixin_gateway.gateway.mp_service`).

Memory is bounded: finished flights expire ``ttl_s`` after they finish and at most
``max_entries`` are kept (the oldest finished ones go first; running flights are never dropped,
their number is bounded by the caller's backlog limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from weixin_gateway._clock import Clock, SystemClock

__all__ = ["Flight", "SingleFlight"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Flight(Generic[T]):
    """One job and what became of it.

    ``late`` is set by a waiter that gave up before the job finished (it answered without the
    outcome); the job reads it when it has its outcome and delivers it another way.
    """

    __slots__ = ("expires_at", "key", "late", "task")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.task: asyncio.Task[T] | None = None
        self.late = False
        self.expires_at: float | None = None

    @property
    def done(self) -> bool:
        """Whether the job has finished (with an outcome, an error or cancelled)."""
        return self.task is not None and self.task.done()

    def outcome(self) -> T | None:
        """The job's outcome, or ``None`` while running, after an error or when cancelled."""
        task = self.task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the job; whether it finished. Never cancels the job."""
        task = self.task
        assert task is not None
        if task.done():
            return True
        if timeout_s <= 0:
            return False
        await asyncio.wait((task,), timeout=timeout_s)
        return task.done()


class SingleFlight(Generic[K, T]):
    """One :class:`Flight` per key; finished flights are remembered ``ttl_s`` seconds."""

    def __init__(
        self,
        *,
        ttl_s: float = 60.0,
        max_entries: int = 10_000,
        clock: Clock | None = None,
        name: str = "singleflight",
    ) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError("ttl_s must be >= 0 and max_entries >= 1")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.name = name
        self._clock: Clock = clock or SystemClock()
        self._flights: OrderedDict[K, Flight[T]] = OrderedDict()
        self._running = 0

    def __repr__(self) -> str:
        return f"SingleFlight({self.name!r}, entries={len(self._flights)}, running={self._running})"

    def __len__(self) -> int:
        return len(self._flights)

    @property
    def running(self) -> int:
        """How many jobs are running now."""
        return self._running

    def get(self, key: K) -> Flight[T] | None:
        """The live (running or not yet expired) flight of ``key``."""
        flight = self._flights.get(key)
        if flight is None:
            return None
        if flight.expires_at is not None and flight.expires_at <= self._clock.monotonic():
            del self._flights[key]
            return None
        return flight

    def join(
        self, key: K, start: Callable[[Flight[T]], Coroutine[Any, Any, T]]
    ) -> tuple[Flight[T], bool]:
        """The flight of ``key`` and whether this call started it.

        When there is no live flight, ``start(flight)`` is run as a new task.
        """
        self._expire()
        flight = self.get(key)
        if flight is not None:
            return flight, False
        flight = Flight[T](key)
        task = asyncio.get_running_loop().create_task(start(flight), name=f"{self.name}-job")
        flight.task = task
        self._running += 1
        self._flights[key] = flight
        task.add_done_callback(lambda _: self._finished(key, flight))
        self._evict()
        return flight, True

    def _finished(self, key: K, flight: Flight[T]) -> None:
        self._running -= 1
        task = flight.task
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("%s job failed", self.name, exc_info=task.exception())
        flight.expires_at = self._clock.monotonic() + self.ttl_s
        if self._flights.get(key) is flight:
            self._flights.move_to_end(key)

    def _expire(self) -> None:
        now = self._clock.monotonic()
        flights = self._flights
        while flights:
            key, flight = next(iter(flights.items()))
            if flight.expires_at is None or flight.expires_at > now:
                return
            del flights[key]

    def _evict(self) -> None:
        excess = len(self._flights) - self.max_entries
        if excess <= 0:
            return
        # finished flights move to the end as they finish, so the oldest finished ones are
        # near the front, behind at most the running ones: stop as soon as enough are found
        # (scanning every entry made each new push O(max_entries) once the cache was full)
        doomed: list[K] = []
        for key, flight in self._flights.items():
            if flight.done:
                doomed.append(key)
                if len(doomed) == excess:
                    break
        for key in doomed:
            del self._flights[key]

    def tasks(self) -> list[asyncio.Task[T]]:
        """The tasks of the jobs still running."""
        return [f.task for f in self._flights.values() if f.task is not None and not f.done]

    async def drain(self, timeout_s: float) -> None:
        """Let running jobs finish for up to ``timeout_s``, then cancel the rest."""
        tasks = self.tasks()
        if not tasks:
            return
        if timeout_s > 0:
            await asyncio.wait(tasks, timeout=timeout_s)
        pending = [t for t in tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%s: %d job(s) cancelled at shutdown", self.name, len(pending))
            await asyncio.gather(*pending, return_exceptions=True)
