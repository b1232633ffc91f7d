"""One gateway per database polls and delivers; the others stand by and take over.

Several gateway processes may share one PostgreSQL database (for the REST API, the inbox, or a
warm standby). If two of them polled the same accounts, every message would be stored once but
posted to the upstream twice. :class:`Leadership` holds the named lease ``ilink-gateway`` (see
:class:`~weixin_gateway.store.leases.Leases`): the holder runs the pollers, the callback
dispatcher and the media downloads; the others serve the API only. The lease is renewed every
third of its TTL; when the holder dies, another process takes over once the TTL has run out.
A holder that cannot reach the database for a whole TTL steps down by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from weixin_gateway.store import Leases
from weixin_gateway.store.leases import new_holder_id

__all__ = ["LEADER_LEASE", "Leadership"]

log = logging.getLogger(__name__)

LEADER_LEASE = "ilink-gateway"

Transition = Callable[[], Awaitable[None]]


class Leadership:
    """Keeps trying to hold the leader lease; calls ``on_gain`` / ``on_loss`` on changes and
    ``on_renewed`` after each renewal (every third of the TTL) while leading."""

    def __init__(
        self,
        leases: Leases,
        *,
        ttl_s: float,
        on_gain: Transition,
        on_loss: Transition,
        on_renewed: Transition | None = None,
    ) -> None:
        self.leases = leases
        self.ttl_s = ttl_s
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.on_renewed = on_renewed
        self.holder = new_holder_id()
        self.is_leader = False
        self._renewed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._check: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try once now (so a lone gateway leads at once), then keep trying in the background."""
        await self._try()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="leadership")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.is_leader:
            await self._lose()
            with contextlib.suppress(Exception):  # it expires by itself
                await self.leases.release(LEADER_LEASE, self.holder)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self._try()
            except Exception:  # never let the lease go unrenewed because of one bad turn
                log.exception("leadership check failed")

    async def _try(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            held = await self.leases.acquire(LEADER_LEASE, self.holder, self.ttl_s)
        except Exception as exc:
            log.warning("could not renew the leader lease: %s", exc)
            if self.is_leader and loop.time() - self._renewed_at > self.ttl_s:
                await self._lose()
            return
        if held:
            self._renewed_at = loop.time()
            if not self.is_leader:
                await self._gain()
            elif self.on_renewed is not None and (self._check is None or self._check.done()):
                # in the background: a slow check must never delay the next renewal
                self._check = asyncio.get_running_loop().create_task(
                    self._renewed(self.on_renewed), name="leadership check"
                )
        elif self.is_leader:
            log.warning("another gateway took the leader lease; standing by")
            await self._lose()
        elif not self._renewed_at:
            self._renewed_at = -1.0  # log the standby once
            log.warning(
                "another gateway polls this database; standing by (API only) until it stops"
            )

    async def _gain(self) -> None:
        self.is_leader = True
        log.info("this gateway now polls and delivers (leader lease held)")
        try:
            await self.on_gain()
        except Exception:  # half a leader is worse than none: give the lease back
            log.exception("taking over as leader failed; standing by")
            await self._lose()
            with contextlib.suppress(Exception):
                await self.leases.release(LEADER_LEASE, self.holder)

    @staticmethod
    async def _renewed(check: Transition) -> None:
        try:
            await check()
        except Exception:
            log.exception("the periodic check after renewing the leader lease failed")

    async def _lose(self) -> None:
        self.is_leader = False
        if self._check is not None:
            self._check.cancel()
            await asyncio.gather(self._check, return_exceptions=True)
            self._check = None
        try:
            await self.on_loss()
        except Exception:
            log.exception("standing down failed")
