"""Named single-holder locks that expire on the row itself, shared by every process on the database.

A lease is a row of ``leases`` (name, holder, expires_at). Taking it is **one statement**, the same
text on SQLite (≥ 3.24) and PostgreSQL::

    INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :expires_at)
    ON CONFLICT (name) DO UPDATE
        SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE leases.expires_at <= :now OR leases.holder = excluded.holder

It inserts the row when nobody holds the name, takes it over when the previous holder's lease
expired (a holder that died is replaced once its TTL has run out; no sweeper is needed), renews
it for the same holder, and changes nothing otherwise — the affected row count says which.
Releasing deletes the row only if we still hold it.

No transaction stays open while a lease is held or awaited: each statement commits at once, so
an SQLite database is never write-locked while, say, a token is fetched over the network.
:meth:`Leases.hold` polls (every ``poll_s``) until the lease is free or ``timeout_s`` has passed
(then :class:`LeaseTimeoutError`), and renews the lease every ``ttl_s / 3`` while the block runs.

Timestamps come from the application's :class:`~weixin_gateway._clock.Clock` (waiting always
uses real time); processes sharing a database should have synchronised clocks (they already must
for token expiry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.errors import LeaseTimeoutError

__all__ = ["ACQUIRE_SQL", "RELEASE_SQL", "LeaseTimeoutError", "Leases", "new_holder_id"]

log = logging.getLogger(__name__)

ACQUIRE_SQL: Final = text(
    "INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :expires_at) "
    "ON CONFLICT (name) DO UPDATE "
    "SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE leases.expires_at <= :now OR leases.holder = excluded.holder"
)
RELEASE_SQL: Final = text("DELETE FROM leases WHERE name = :name AND holder = :holder")


def new_holder_id() -> str:
    """A holder id unique to one acquisition: host, process id and a random part."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex}"


class Leases:
    """The ``leases`` table of one engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock | None = None,
        poll_s: float = 0.05,
    ) -> None:
        if poll_s <= 0:
            raise ValueError("poll_s must be positive")
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.poll_s = poll_s

    def __repr__(self) -> str:
        return f"Leases({self.engine!r})"

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take (or renew) ``name`` for ``holder`` for ``ttl_s`` seconds; ``False`` if held."""
        if not ttl_s > 0:
            raise ValueError("ttl_s must be positive")
        now = self.clock.time()
        params = {"name": name, "holder": holder, "expires_at": now + ttl_s, "now": now}
        async with self.engine.begin() as connection:
            result = await connection.execute(ACQUIRE_SQL, params)
        return bool(result.rowcount == 1)

    async def release(self, name: str, holder: str) -> bool:
        """Give ``name`` up if ``holder`` still holds it; ``False`` if it did not."""
        async with self.engine.begin() as connection:
            result = await connection.execute(RELEASE_SQL, {"name": name, "holder": holder})
        return bool(result.rowcount == 1)

    async def wait_acquire(self, name: str, holder: str, ttl_s: float, timeout_s: float) -> bool:
        """:meth:`acquire`, retried every ``poll_s`` for up to ``timeout_s``; ``False`` if not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await self.acquire(name, holder, ttl_s):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(self.poll_s)
        return True

    @contextlib.asynccontextmanager
    async def renewing(self, name: str, holder: str, ttl_s: float) -> AsyncIterator[None]:
        """For a lease already acquired: renew it every ``ttl_s / 3``, release it at the end."""
        keeper = asyncio.create_task(self._keep(name, holder, ttl_s), name=f"lease-keeper {name}")
        try:
            yield
        finally:
            keeper.cancel()
            # wait for the keeper without swallowing a cancellation of our own task
            await asyncio.wait([keeper])
            try:
                await self.release(name, holder)
            except Exception as exc:  # the lease expires on its own
                log.warning("could not release lease %s (%s); it expires by itself", name, exc)

    @contextlib.asynccontextmanager
    async def hold(
        self,
        name: str,
        *,
        ttl_s: float = 60.0,
        timeout_s: float = 30.0,
        holder: str | None = None,
    ) -> AsyncIterator[str]:
        """Hold ``name`` for the ``async with`` block; yields the holder id.

        Waits at most ``timeout_s`` (:class:`LeaseTimeoutError` after that); renews the lease
        every ``ttl_s / 3`` while the block runs; releases it at the end. Safe to cancel.
        """
        if not ttl_s > 0 or timeout_s < 0:
            raise ValueError("ttl_s must be positive and timeout_s not negative")
        holder = holder or new_holder_id()
        if not await self.wait_acquire(name, holder, ttl_s, timeout_s):
            raise LeaseTimeoutError(name, timeout_s)
        async with self.renewing(name, holder, ttl_s):
            yield holder

    async def _keep(self, name: str, holder: str, ttl_s: float) -> None:
        while True:
            await asyncio.sleep(ttl_s / 3)
            try:
                renewed = await self.acquire(name, holder, ttl_s)
            except Exception as exc:
                log.warning("could not renew lease %s: %s", name, exc)
                continue
            if not renewed:
                log.warning("lease %s was taken over by another holder", name)
                return
