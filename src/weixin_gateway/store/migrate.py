"""Bring a database's schema to the newest migration, from code (no ``alembic.ini``).

::

    engine = create_engine(url)
    await upgrade(engine)

The migration scripts ship inside the package (``store/migrations``). :func:`upgrade` is
idempotent and safe to run from several processes at once (see ``migrations/env.py``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

# Alembic's ``context`` is module-global, so upgrades within one process must not interleave;
# other processes are kept out by the lock taken in ``migrations/env.py``.
_in_process: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic :class:`Config` for the packaged migrations (optionally bound to a connection)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (default: the newest); a no-op when there."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    lock = _in_process.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.connect() as connection:
        await connection.run_sync(run)
        await connection.commit()
    log.debug("database schema at %s", revision)
