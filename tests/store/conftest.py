"""The store's contract suite runs on both backends: ``backend`` is ``sqlite`` or ``postgres``.

* ``sqlite`` — a file in the test's temporary directory.
* ``postgres`` — a database ``wg_test_<random>`` created once per session on 127.0.0.1:5432
  (user ``postgres``, trust auth, created from database ``test``) and dropped at the end; every
  test starts from an empty ``public`` schema. PostgreSQL being down is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.store import create_engine, dispose_engine, upgrade

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


async def _admin(sql: str) -> None:
    connection: Any = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _run(sql: str) -> None:
    """Run an admin statement on its own event loop, in a thread (a loop may be running here)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin(sql)).result()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    name = f"wg_test_{secrets.token_hex(6)}"
    try:
        _run(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({exc!r}). The store tests run on "
            "both backends: start PostgreSQL (trust auth for user postgres, database 'test').",
            pytrace=False,
        )
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        _run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def _backend_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    return url


@pytest.fixture
async def database_url(backend: str, _backend_url: str) -> str:
    """The URL of an empty database of ``backend``."""
    url = _backend_url
    if backend == "sqlite":
        return url
    connection: Any = await asyncpg.connect(url, timeout=5)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()
    return url


@pytest.fixture
async def empty_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await dispose_engine(engine)


@pytest.fixture
async def engine(empty_engine: AsyncEngine) -> AsyncEngine:
    """An engine on a database migrated to head."""
    await upgrade(empty_engine)
    return empty_engine
