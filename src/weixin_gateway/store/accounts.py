"""The gateway's iLink accounts and the latest ``context_token`` per (account, user).

An account is one logged-in bot: its credentials, the ``getupdates`` cursor, and its session
state — ``active`` (polled) or ``expired`` (the server answered ``-14``; the record is kept and
not polled until the same bot logs in again, which makes it ``active`` with a fresh cursor).

The bot token is stored as is (the database is the gateway's own); :class:`AccountRecord` hides
it from ``repr()`` and nothing in the API returns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Literal

from sqlalchemy import Connection, Row, delete, func, insert, or_, select, update

from weixin_gateway.store._base import TableGateway
from weixin_gateway.store.tables import accounts, context_tokens

__all__ = ["ACTIVE", "EXPIRED", "AccountRecord", "AccountStore", "SessionState"]

SessionState = Literal["active", "expired"]
ACTIVE: Final = "active"
EXPIRED: Final = "expired"


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One row of ``accounts``."""

    account_id: str
    api_base_url: str
    cdn_base_url: str
    bot_token: str = field(repr=False)
    bot_id: str
    wechat_uin: str
    owner_user_id: str
    cursor: str
    session_state: str
    last_error: str
    last_forwarded: int
    last_poll_finished_at: float | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> AccountRecord:
        return cls(**dict(row._mapping))


class AccountStore(TableGateway):
    """The ``accounts`` and ``context_tokens`` tables."""

    async def get(self, account_id: str) -> AccountRecord | None:
        async with self.read() as connection:
            row = (
                await connection.execute(
                    select(accounts).where(accounts.c.account_id == account_id)
                )
            ).first()
        return AccountRecord.from_row(row) if row is not None else None

    async def find_by_bot_id(self, bot_id: str) -> AccountRecord | None:
        """The account of bot ``bot_id`` (the oldest, should several share it)."""
        if not bot_id:
            return None
        query = select(accounts).where(accounts.c.bot_id == bot_id).order_by(accounts.c.created_at)
        async with self.read() as connection:
            row = (await connection.execute(query)).first()
        return AccountRecord.from_row(row) if row is not None else None

    async def find_expired_by_owner(self, owner_user_id: str) -> AccountRecord | None:
        """The oldest ``expired`` account of WeChat user ``owner_user_id`` (the user who logged
        it in, or its ``wechat_uin`` when it was registered by hand)."""
        if not owner_user_id:
            return None
        query = (
            select(accounts)
            .where(
                or_(
                    accounts.c.owner_user_id == owner_user_id,
                    accounts.c.wechat_uin == owner_user_id,
                ),
                accounts.c.session_state == EXPIRED,
            )
            .order_by(accounts.c.created_at)
        )
        async with self.read() as connection:
            row = (await connection.execute(query)).first()
        return AccountRecord.from_row(row) if row is not None else None

    async def all(self) -> list[AccountRecord]:
        async with self.read() as connection:
            rows = await connection.execute(select(accounts).order_by(accounts.c.created_at))
        return [AccountRecord.from_row(r) for r in rows]

    async def fingerprint(self) -> tuple[int, float, float]:
        """A cheap summary of the table that changes whenever an account is added, replaced,
        expired or removed (``count``, ``sum`` and ``max`` of ``updated_at``); polls and
        cursors leave it alone. Lets the leader skip re-reading every account when nothing
        changed."""
        query = select(
            func.count(),
            func.coalesce(func.sum(accounts.c.updated_at), 0.0),
            func.coalesce(func.max(accounts.c.updated_at), 0.0),
        ).select_from(accounts)
        async with self.read() as connection:
            count, total, newest = (await connection.execute(query)).one()
        return int(count), float(total), float(newest)

    async def count_by_state(self) -> dict[str, int]:
        query = select(accounts.c.session_state, func.count()).group_by(accounts.c.session_state)
        async with self.read() as connection:
            rows = await connection.execute(query)
        return {str(state): int(n) for state, n in rows}

    async def save(
        self,
        *,
        account_id: str,
        api_base_url: str,
        bot_token: str,
        cdn_base_url: str = "",
        bot_id: str = "",
        wechat_uin: str = "",
        owner_user_id: str = "",
    ) -> AccountRecord:
        """Insert or replace an account's credentials; it becomes ``active`` with a fresh cursor.

        A new login (or a new registration) restarts the stream: the old cursor belonged to the
        old session. ``created_at`` survives a replacement.
        """
        now = self.clock.time()
        values = {
            "api_base_url": api_base_url,
            "cdn_base_url": cdn_base_url,
            "bot_token": bot_token,
            "bot_id": bot_id,
            "wechat_uin": wechat_uin,
            "owner_user_id": owner_user_id,
            "cursor": "",
            "session_state": ACTIVE,
            "last_error": "",
            "updated_at": now,
        }
        row = await self.transaction(partial(_save, account_id=account_id, values=values, now=now))
        return AccountRecord.from_row(row)

    async def delete(self, account_id: str) -> AccountRecord | None:
        """Remove an account (and its remembered context tokens); the removed record or None."""
        async with self.write() as connection:
            row = (
                await connection.execute(
                    select(accounts).where(accounts.c.account_id == account_id)
                )
            ).first()
            if row is None:
                return None
            await connection.execute(delete(accounts).where(accounts.c.account_id == account_id))
            await connection.execute(
                delete(context_tokens).where(context_tokens.c.account_id == account_id)
            )
        return AccountRecord.from_row(row)

    async def mark_expired(self, account_id: str, error: str) -> None:
        """``-14``: keep the record, stop polling it until the bot logs in again."""
        now = self.clock.time()
        async with self.write() as connection:
            await connection.execute(
                update(accounts)
                .where(accounts.c.account_id == account_id)
                .values(session_state=EXPIRED, last_error=error, updated_at=now)
            )

    async def record_poll(self, account_id: str, *, error: str = "") -> None:
        """Note a poll that stored nothing (an idle poll, or a failed one with ``error``)."""
        now = self.clock.time()
        async with self.write() as connection:
            await connection.execute(
                update(accounts)
                .where(accounts.c.account_id == account_id)
                .values(last_error=error, last_poll_finished_at=now)
            )

    async def context_token(self, account_id: str, user_id: str) -> str | None:
        """The latest ``context_token`` seen from ``user_id`` on ``account_id``."""
        query = select(context_tokens.c.context_token).where(
            context_tokens.c.account_id == account_id, context_tokens.c.user_id == user_id
        )
        async with self.read() as connection:
            value = (await connection.execute(query)).scalar()
        return str(value) if value else None


def _save(
    connection: Connection, *, account_id: str, values: dict[str, Any], now: float
) -> Row[Any]:
    """:meth:`AccountStore.save` in one transaction, run whole in one hop (registering 10,000
    accounts made three round trips each through the async driver)."""
    changed = connection.execute(
        update(accounts).where(accounts.c.account_id == account_id).values(**values)
    )
    if changed.rowcount == 0:
        connection.execute(
            insert(accounts).values(
                account_id=account_id, created_at=now, last_forwarded=0, **values
            )
        )
    return connection.execute(select(accounts).where(accounts.c.account_id == account_id)).one()
