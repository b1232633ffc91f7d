"""The database engine, chosen by the URL's scheme.

=====================================  ==========================================================
URL                                    engine
=====================================  ==========================================================
``/var/lib/wg/weixin-gateway.db``      SQLite file (a plain path, relative or absolute)
``sqlite:///relative.db``              SQLite file, ``sqlite:////abs/path.db`` for absolute paths
``postgresql://user:pw@host/db``       PostgreSQL through asyncpg (the ``postgres`` extra)
``postgres://user:pw@host/db``         the same (the spelling Heroku and others use)
=====================================  ==========================================================

Every SQLite connection is set up with ``journal_mode=WAL`` (readers never wait for the writer),
``busy_timeout`` (a writer waits for another process's write instead of failing at once),
``foreign_keys=ON`` and ``synchronous=NORMAL`` (durable at every checkpoint; with WAL, safe
against corruption). asyncpg is imported only when a PostgreSQL URL is used; without it
:class:`~weixin_gateway.errors.MissingExtraError` names the extra to install.

A password in a URL never reaches a log line or an error message: use :func:`redact_url`. Statement
parameters (tokens, message text) are left out of SQLAlchemy's error messages (``hide_parameters``).
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any, Final

from sqlalchemy import URL, Engine, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from weixin_gateway.errors import MissingExtraError

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "DEFAULT_DATABASE_FILE",
    "busy_timeout_of",
    "configure_sqlite",
    "create_engine",
    "database_url",
    "default_database_url",
    "redact_url",
]

log = logging.getLogger(__name__)

DEFAULT_DATABASE_FILE: Final = "weixin-gateway.db"
DEFAULT_BUSY_TIMEOUT_MS: Final = 5000

_SQLITE_SCHEMES: Final = frozenset({"sqlite", "sqlite+aiosqlite"})
_POSTGRES_SCHEMES: Final = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})


def _is_plain_path(url: str) -> bool:
    return "://" not in url and not url.startswith("sqlite:")


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower()


def database_url(url: str | os.PathLike[str]) -> URL:
    """The SQLAlchemy URL (with its async driver) for a database URL or a plain SQLite path.

    Raises :class:`ValueError` naming the scheme when it is not SQLite or PostgreSQL; the
    message never contains the URL itself (it may hold a password).
    """
    text = os.fspath(url)
    if not text.strip():
        raise ValueError("the database URL is empty")
    if _is_plain_path(text):
        return URL.create("sqlite+aiosqlite", database=str(Path(text).expanduser()))
    scheme = _scheme(text)
    if scheme == "postgres":
        text = "postgresql" + text[len("postgres") :]
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):  # the message may repeat the URL, password included
        raise ValueError(f"cannot parse the {scheme!r} database URL") from None
    if scheme in _SQLITE_SCHEMES:
        return parsed.set(drivername="sqlite+aiosqlite")
    if scheme in _POSTGRES_SCHEMES:
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///<path>, a plain file path, "
        "or postgresql://user:password@host/database"
    )


def redact_url(url: str | os.PathLike[str] | URL) -> str:
    """The URL with any password replaced by ``***``, for logs and messages."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    text = os.fspath(url)
    if _is_plain_path(text):
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return f"<unparsable {_scheme(text)!r} URL>"


#: Connections kept open. SQLAlchemy's default (5, and up to 10 more that are closed as soon as
#: they are returned) made a busy gateway open and close a connection, and on SQLite start and
#: stop a thread, for most transactions: at 500 msg/s that was the largest cost in the profile.
POOL: dict[str, int] = {"pool_size": 20, "max_overflow": 20}


def default_database_url(data_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///<data_dir>/weixin-gateway.db`` (the directory is not created here)."""
    path = Path(data_dir).expanduser().resolve() / DEFAULT_DATABASE_FILE
    return f"sqlite:///{path}"


def create_engine(
    url: str | os.PathLike[str],
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    echo: bool = False,
) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url`` (see the module docstring); dispose it when done."""
    if busy_timeout_ms < 0:
        raise ValueError("busy_timeout_ms must not be negative")
    sa_url = database_url(url)
    if sa_url.drivername == "postgresql+asyncpg":
        try:
            importlib.import_module("asyncpg")
        except ImportError as exc:
            raise MissingExtraError("PostgreSQL", "postgres", "asyncpg") from exc
        engine = create_async_engine(
            sa_url, echo=echo, pool_pre_ping=True, hide_parameters=True, **POOL
        )
    else:
        # every use of a connection ends its own transaction (SQLAlchemy rolls back on close),
        # so the pool's extra rollback on return only cost a round trip to the driver's thread
        engine = create_async_engine(
            sa_url, echo=echo, hide_parameters=True, pool_reset_on_return=None, **POOL
        )
        _busy_timeouts[engine] = busy_timeout_ms
        configure_sqlite(engine.sync_engine, busy_timeout_ms)
    log.debug("database engine for %s", redact_url(sa_url))
    return engine


_busy_timeouts: weakref.WeakKeyDictionary[AsyncEngine, int] = weakref.WeakKeyDictionary()


def busy_timeout_of(engine: AsyncEngine) -> int:
    """The ``busy_timeout_ms`` a SQLite engine was created with."""
    return _busy_timeouts.get(engine, DEFAULT_BUSY_TIMEOUT_MS)


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Set the pragmas of the module docstring on every new connection of ``engine``."""
    pragmas = (
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",  # first: WAL switching may wait
        "PRAGMA journal_mode = WAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous = NORMAL",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                _execute_patiently(cursor, pragma, busy_timeout_ms / 1000)
        finally:
            cursor.close()


def _execute_patiently(cursor: Any, statement: str, timeout_s: float) -> None:
    """Run a pragma, retrying "database is locked": switching to WAL while another process
    migrates can fail at once, without SQLite's busy handler (it runs on the driver's thread,
    so a short blocking sleep is fine)."""
    deadline = time.monotonic() + max(timeout_s, 1.0)
    while True:
        try:
            cursor.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
