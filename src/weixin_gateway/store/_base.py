"""What every table gateway of the store shares: the engine, the clock, and serialised writes.

SQLite allows one writer at a time; a second connection that starts writing inside a read
transaction fails with ``database is locked`` instead of waiting. Writes of one process are
therefore serialised on an :class:`asyncio.Lock` when the engine is SQLite (PostgreSQL takes row
locks and needs none). Each write is one short transaction; none stays open across network I/O.
The hot writes use :meth:`TableGateway.transaction`, which runs a synchronous transaction whole
on a writer thread (:mod:`._writer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.store._writer import run_in_writer

__all__ = ["TableGateway"]

R = TypeVar("R")

_sqlite_locks: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


class TableGateway:
    """Base of the store's classes: one engine, one clock, :meth:`write`, :meth:`transaction`
    and :meth:`read`."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.is_sqlite = engine.dialect.name == "sqlite"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine!r})"

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (committed at the end, rolled back on an error)."""
        if self.is_sqlite:
            lock = _sqlite_locks.setdefault(self.engine, asyncio.Lock())
            async with lock, self.engine.begin() as connection:
                yield connection
        else:
            async with self.engine.begin() as connection:
                yield connection

    async def transaction(self, body: Callable[[Connection], R]) -> R:
        """``body(connection)``, a synchronous write transaction, run whole in one hop (on
        SQLite on the writer thread; see :mod:`._writer`)."""
        if self.is_sqlite:
            async with _sqlite_locks.setdefault(self.engine, asyncio.Lock()):
                return await run_in_writer(self.engine, body)
        return await run_in_writer(self.engine, body)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading."""
        async with self.engine.connect() as connection:
            yield connection
