"""SQLite write transactions in one hop, on a thread of their own.

Through aiosqlite every statement is a round trip: the event loop hands it to the
connection's thread and is woken again with the answer. A transaction of five statements costs
the loop a dozen turns, and SQLite's single write slot stays taken while the loop runs whatever
else is queued between them. At 500 messages a second that made storing a poll take 30-40 ms.

The store's hot writes (storing polls, marking deliveries, settling inbox messages) are
therefore written as one synchronous function of a :class:`~sqlalchemy.engine.Connection`, and
:func:`run_in_writer` runs such a function whole: on a file-backed SQLite database, on one
dedicated thread with its own synchronous engine on the same file (one hop there and back);
elsewhere (PostgreSQL, in-memory SQLite) through ``AsyncConnection.run_sync`` on the async
engine, the same function and the same transaction semantics.

The caller serialises SQLite writes (see :class:`~weixin_gateway.store._base.TableGateway`):
a write that was cancelled while the thread runs it keeps the writer until it has finished, so
no other write can start beside it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.store.engine import busy_timeout_of, configure_sqlite

__all__ = ["dispose_engine", "run_in_writer"]

R = TypeVar("R")


class _Writer:
    """A synchronous engine on the async engine's SQLite file, used by one thread only."""

    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url.set(drivername="sqlite")
        self.engine: Engine = create_sync_engine(
            url, hide_parameters=True, pool_size=1, max_overflow=0, pool_reset_on_return=None
        )
        configure_sqlite(self.engine, busy_timeout_of(engine))
        self.connection: Connection | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self.finalizer = weakref.finalize(engine, _close, self.executor, self.close)
        self.finalizer.atexit = False

    def transaction(self, body: Callable[[Connection], R]) -> R:
        """On the writer thread: ``body`` in a transaction of the thread's one connection,
        kept open between transactions (no pool check-out and check-in for each)."""
        connection = self.connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self.connection = self.engine.connect()
        try:
            with connection.begin():
                return body(connection)
        except BaseException:
            self.connection = None  # whatever went wrong, the next one starts afresh
            connection.close()
            raise

    def close(self) -> None:
        """On the writer thread: close its connection and the engine."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.engine.dispose()


def _close(executor: ThreadPoolExecutor, close: Callable[[], None]) -> None:
    """Close the writer's connection on its own thread, then let the thread end."""
    try:
        executor.submit(close)
    except RuntimeError:  # the interpreter is shutting down: the thread ends with it
        return
    executor.shutdown(wait=False)


_writers: weakref.WeakKeyDictionary[AsyncEngine, _Writer] = weakref.WeakKeyDictionary()


def _uses_writer(engine: AsyncEngine) -> bool:
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and database not in ("", ":memory:")


async def run_in_writer(engine: AsyncEngine, body: Callable[[Connection], R]) -> R:
    """``body(connection)`` in one committed transaction (rolled back if it raises)."""
    if not _uses_writer(engine):
        async with engine.begin() as connection:
            return await connection.run_sync(body)
    writer = _writers.get(engine)
    if writer is None:
        writer = _writers[engine] = _Writer(engine)
    future = asyncio.get_running_loop().run_in_executor(writer.executor, writer.transaction, body)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # the thread is still writing: hold the caller's write lock until it is done
        await asyncio.wait([future])
        raise


async def dispose_engine(engine: AsyncEngine) -> None:
    """Close ``engine``'s connections, its writer's included (waiting for its thread)."""
    writer = _writers.pop(engine, None)
    if writer is not None:
        writer.finalizer.detach()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(writer.executor, writer.close)
        writer.executor.shutdown(wait=False)
    await engine.dispose()
