""":class:`SqlTokenStore`: access tokens and tickets in the database, one refresher at a time.

It implements :class:`~weixin_gateway.mp.tokens.TokenStore`: ``get`` / ``put`` read and upsert
the ``credentials`` row of (app, kind); ``lock`` holds the lease ``token:<app_id>:<kind>``
(:mod:`weixin_gateway.store.leases`) for the ``async with`` block. Like
:class:`~weixin_gateway.mp.tokens.FileTokenStore`, a caller that cannot get the lock within
``lock_timeout_s`` proceeds without it (with a warning): a second refresh is less harmful than
an outage. A holder that died is replaced when its lease expires (``lock_ttl_s``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.mp.tokens import CachedToken
from weixin_gateway.store.leases import Leases, new_holder_id
from weixin_gateway.store.tables import credentials

__all__ = ["UPSERT_CREDENTIAL_SQL", "SqlTokenStore"]

log = logging.getLogger(__name__)

UPSERT_CREDENTIAL_SQL = text(
    "INSERT INTO credentials (app_id, kind, value, expires_at, fetched_at, updated_at) "
    "VALUES (:app_id, :kind, :value, :expires_at, :fetched_at, :updated_at) "
    "ON CONFLICT (app_id, kind) DO UPDATE SET value = excluded.value, "
    "expires_at = excluded.expires_at, fetched_at = excluded.fetched_at, "
    "updated_at = excluded.updated_at"
)


class SqlTokenStore:
    """Tokens in the ``credentials`` table; the refresh lock is a lease (see module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock | None = None,
        lock_ttl_s: float = 60.0,
        lock_timeout_s: float = 30.0,
        lock_poll_s: float = 0.05,
    ) -> None:
        if lock_ttl_s <= 0 or lock_timeout_s <= 0:
            raise ValueError("lock_ttl_s and lock_timeout_s must be positive")
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.lock_ttl_s = lock_ttl_s
        self.lock_timeout_s = lock_timeout_s
        self.leases = Leases(engine, clock=self.clock, poll_s=lock_poll_s)

    def __repr__(self) -> str:
        return f"SqlTokenStore({self.engine!r})"

    @staticmethod
    def lease_name(app_id: str, kind: str) -> str:
        """The lease that names the refresher of (app, kind)."""
        return f"token:{app_id}:{kind}"

    async def get(self, app_id: str, kind: str) -> CachedToken | None:
        query = select(
            credentials.c.value, credentials.c.expires_at, credentials.c.fetched_at
        ).where(credentials.c.app_id == app_id, credentials.c.kind == kind)
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return CachedToken(value=row.value, expires_at=row.expires_at, fetched_at=row.fetched_at)

    async def put(self, app_id: str, kind: str, token: CachedToken) -> None:
        params = {
            "app_id": app_id,
            "kind": kind,
            "value": token.value,
            "expires_at": token.expires_at,
            "fetched_at": token.fetched_at,
            "updated_at": self.clock.time(),
        }
        async with self.engine.begin() as connection:
            await connection.execute(UPSERT_CREDENTIAL_SQL, params)

    @contextlib.asynccontextmanager
    async def lock(self, app_id: str, kind: str) -> AsyncIterator[None]:
        name = self.lease_name(app_id, kind)
        holder = new_holder_id()
        if not await self.leases.wait_acquire(name, holder, self.lock_ttl_s, self.lock_timeout_s):
            log.warning(
                "token lease %s still held after %.0f s; refreshing without it",
                name,
                self.lock_timeout_s,
            )
            yield
            return
        async with self.leases.renewing(name, holder, self.lock_ttl_s):
            yield
