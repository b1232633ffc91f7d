"""The typing indicator: the per-user ``typing_ticket`` cache and the keepalive (ilink.md §8).

:class:`TypingTicketCache` fetches ``typing_ticket`` with ``getconfig`` once per user and keeps it
until a refresh time drawn uniformly from ``[ttl/2, ttl]`` (the official client draws from
``[0, 24 h]``; we keep at least half a TTL so a busy bot does not refetch within seconds). A ticket
counts only when ``ret == 0`` exactly. After a failure it retries after 2 s, then doubling up to
1 h, and keeps serving the last good ticket meanwhile. ``-14`` (:class:`SessionExpiredError`) is
not swallowed: it means every later call will fail as well.

:class:`TypingIndicator` is what ``async with client.typing(user):`` runs: ``status 1`` at once,
again every 5 s, the keepalive stopping after 60 s or 2 consecutive failures, and exactly one
``status 2`` on exit — also when the body raises or the task is cancelled (the cancel is shielded
and bounded by its own timeout). Without a ticket nothing is sent at all.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from weixin_gateway._clock import Clock
from weixin_gateway.errors import SessionExpiredError, WeixinError

from .wire import GetConfigResponse, TypingStatus

__all__ = ["TypingIndicator", "TypingTicketCache"]

log = logging.getLogger(__name__)

DEFAULT_TICKET_TTL = 24 * 3600.0
RETRY_INITIAL = 2.0
RETRY_MAX = 3600.0

FetchConfig = Callable[[str, str | None], Awaitable[GetConfigResponse]]


@dataclass(slots=True)
class _Entry:
    ticket: str | None
    next_fetch: float
    retry_delay: float = 0.0

    def __repr__(self) -> str:
        held = "held" if self.ticket else "none"
        return f"_Entry(ticket=<{held}>, next_fetch={self.next_fetch:.1f})"


class TypingTicketCache:
    """Per-user ``typing_ticket`` cache in memory (see the module docstring)."""

    def __init__(
        self,
        fetch: FetchConfig,
        *,
        clock: Clock,
        ttl: float = DEFAULT_TICKET_TTL,
        rng: random.Random | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl = ttl
        self._rng = rng or random.Random()  # noqa: S311 - refresh jitter, not a secret
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"TypingTicketCache(users={len(self._entries)}, ttl={self._ttl:g})"

    def invalidate(self, user_id: str | None = None) -> None:
        """Forget one user's ticket, or every ticket."""
        if user_id is None:
            self._entries.clear()
        else:
            self._entries.pop(user_id, None)

    async def get(self, user_id: str, context_token: str | None = None) -> str | None:
        """The user's ticket: cached while fresh, else fetched; None if there is none."""
        entry = self._entries.get(user_id)
        if entry is not None and self._clock.monotonic() < entry.next_fetch:
            return entry.ticket
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            entry = self._entries.get(user_id)
            if entry is not None and self._clock.monotonic() < entry.next_fetch:
                return entry.ticket
            return await self._refresh(user_id, context_token, entry)

    async def _refresh(
        self, user_id: str, context_token: str | None, entry: _Entry | None
    ) -> str | None:
        now = self._clock.monotonic()
        try:
            resp = await self._fetch(user_id, context_token)
        except SessionExpiredError:
            raise
        except WeixinError as exc:
            return self._failed(user_id, entry, now, f"{exc.__class__.__name__}: {exc}")
        if resp.ret != 0:
            return self._failed(user_id, entry, now, f"ret={resp.ret}")
        ticket = resp.typing_ticket or None
        refresh = self._ttl * self._rng.uniform(0.5, 1.0)
        self._entries[user_id] = _Entry(ticket=ticket, next_fetch=now + refresh)
        return ticket

    def _failed(self, user_id: str, entry: _Entry | None, now: float, why: str) -> str | None:
        delay = RETRY_INITIAL if entry is None or not entry.retry_delay else entry.retry_delay * 2
        delay = min(delay, RETRY_MAX)
        ticket = entry.ticket if entry is not None else None
        self._entries[user_id] = _Entry(ticket=ticket, next_fetch=now + delay, retry_delay=delay)
        log.warning("getconfig failed (%s); retrying in %.0f s", why, delay)
        return ticket


_background: set[asyncio.Task[None]] = set()


class TypingIndicator:
    """``status 1`` now and every ``interval`` s (for at most ``max_duration`` s, stopping after
    ``max_failures`` consecutive failures), exactly one ``status 2`` on exit."""

    def __init__(
        self,
        *,
        get_ticket: Callable[[], Awaitable[str | None]],
        send: Callable[[str, TypingStatus], Awaitable[None]],
        clock: Clock,
        interval: float = 5.0,
        max_duration: float = 60.0,
        max_failures: int = 2,
        cancel_timeout: float = 10.0,
    ) -> None:
        self._get_ticket = get_ticket
        self._send = send
        self._clock = clock
        self._interval = interval
        self._max_duration = max_duration
        self._max_failures = max_failures
        self._cancel_timeout = cancel_timeout
        self._ticket: str | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._consecutive_failures = 0
        #: How many ``status 1`` requests succeeded / failed, and whether ``status 2`` went out.
        self.typing_sent = 0
        self.failures = 0
        self.cancel_sent = False

    def __repr__(self) -> str:
        return (
            f"TypingIndicator(active={self.active}, typing_sent={self.typing_sent}, "
            f"failures={self.failures}, cancel_sent={self.cancel_sent})"
        )

    @property
    def active(self) -> bool:
        """True while a ticket is held and the keepalive has not stopped."""
        return self._keepalive is not None and not self._keepalive.done()

    async def __aenter__(self) -> TypingIndicator:
        try:
            self._ticket = await self._get_ticket()
        except WeixinError as exc:
            log.warning("typing: no ticket (%s)", exc.__class__.__name__)
            self._ticket = None
        if not self._ticket:
            self._ticket = None
            return self
        await self._send_typing()
        if self._consecutive_failures < self._max_failures:
            self._keepalive = asyncio.create_task(self._run_keepalive())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ticket is None:
            return
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            keepalive.cancel()
        finish = asyncio.ensure_future(self._finish(keepalive))
        try:
            await asyncio.shield(finish)
        except asyncio.CancelledError:
            # Cancelled while cancelling: the one status 2 still goes out, bounded by its timeout.
            _background.add(finish)
            finish.add_done_callback(_background.discard)
            raise

    async def _run_keepalive(self) -> None:
        started = self._clock.monotonic()
        while True:
            await self._clock.sleep(self._interval)
            if self._clock.monotonic() - started >= self._max_duration:
                log.debug("typing: keepalive reached %.0f s; stopping", self._max_duration)
                return
            await self._send_typing()
            if self._consecutive_failures >= self._max_failures:
                log.warning(
                    "typing: %d consecutive failures; stopping keepalive", self._max_failures
                )
                return

    async def _send_typing(self) -> None:
        assert self._ticket is not None
        try:
            await self._send(self._ticket, TypingStatus.TYPING)
        except WeixinError as exc:
            self.failures += 1
            self._consecutive_failures += 1
            log.warning("typing: status 1 failed (%s)", exc.__class__.__name__)
        else:
            self.typing_sent += 1
            self._consecutive_failures = 0

    async def _finish(self, keepalive: asyncio.Task[None] | None) -> None:
        if keepalive is not None:
            await asyncio.wait({keepalive})
            if not keepalive.cancelled() and keepalive.exception() is not None:
                log.error("typing: keepalive crashed", exc_info=keepalive.exception())
        assert self._ticket is not None
        try:
            async with asyncio.timeout(self._cancel_timeout):
                await self._send(self._ticket, TypingStatus.CANCEL)
        except (WeixinError, TimeoutError) as exc:
            log.warning("typing: status 2 failed (%s)", exc.__class__.__name__)
        else:
            self.cancel_sent = True
