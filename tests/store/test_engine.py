"""Engine URL rules: SQLite paths and URLs, PostgreSQL spellings, refusals, redaction, pragmas."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.errors import MissingExtraError
from weixin_gateway.store import (
    AccountStore,
    create_engine,
    database_url,
    default_database_url,
    redact_url,
)
from weixin_gateway.store.tables import accounts as accounts_table

PASSWORD = "s3cr3t-pw"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/var/lib/wg/data.db", "sqlite+aiosqlite:////var/lib/wg/data.db"),
        ("data.db", "sqlite+aiosqlite:///data.db"),
        ("sqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h:5433/db", "postgresql+asyncpg://u@h:5433/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_url_mapping(given: str, expected: str) -> None:
    assert database_url(given).render_as_string(hide_password=False) == expected


def test_path_objects_are_sqlite_files(tmp_path: Path) -> None:
    url = database_url(tmp_path / "a.db")
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str(tmp_path / "a.db")


@pytest.mark.parametrize(
    "bad", [f"mysql://root:{PASSWORD}@h/db", f"postgresql+psycopg://u:{PASSWORD}@h/db"]
)
def test_unknown_scheme_is_named_without_the_password(bad: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme") as info:
        database_url(bad)
    assert bad.split("://")[0] in str(info.value)
    assert PASSWORD not in str(info.value)


def test_unparsable_url_does_not_echo_it() -> None:
    with pytest.raises(ValueError, match="cannot parse") as info:
        database_url(f"postgresql://u:{PASSWORD}@h:notaport/db")
    assert PASSWORD not in str(info.value)


def test_empty_url_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        database_url("  ")


def test_redaction() -> None:
    redacted = redact_url(f"postgres://user:{PASSWORD}@db.example:5432/wg")
    assert PASSWORD not in redacted
    assert redacted == "postgres://user:***@db.example:5432/wg"
    assert redact_url("/plain/path.db") == "/plain/path.db"
    assert redact_url(database_url(f"postgres://u:{PASSWORD}@h/db")).count("***") == 1


async def test_engine_never_shows_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="weixin_gateway.store")
    engine = create_engine(f"postgresql://user:{PASSWORD}@127.0.0.1:1/wg")
    try:
        assert PASSWORD not in repr(engine)
        assert PASSWORD not in caplog.text
        assert "user:***@" in caplog.text
    finally:
        await engine.dispose()


def test_missing_asyncpg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(MissingExtraError, match=r"weixin-gateway\[postgres\]") as info:
        create_engine("postgresql://u@127.0.0.1/db")
    assert info.value.module == "asyncpg"


def test_default_database_url(tmp_path: Path) -> None:
    url = default_database_url(tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve()}/weixin-gateway.db"
    assert database_url(url).database == str(tmp_path.resolve() / "weixin-gateway.db")


async def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    engine = create_engine(tmp_path / "p.db", busy_timeout_ms=1234)
    try:
        for _ in range(2):  # a fresh connection each time
            async with engine.connect() as connection:
                pragmas = {
                    name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                    for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
                }
                assert pragmas == {
                    "journal_mode": "wal",
                    "busy_timeout": 1234,
                    "foreign_keys": 1,
                    "synchronous": 1,  # NORMAL
                }
            await engine.dispose()
    finally:
        await engine.dispose()


async def test_error_messages_leave_statement_parameters_out(engine: AsyncEngine) -> None:
    accounts = AccountStore(engine)
    await accounts.save(account_id="a", api_base_url="http://x", bot_token="secret-token-1")
    duplicate = accounts_table.insert().values(
        account_id="a", api_base_url="http://x", bot_token="secret-token-2",
        created_at=0.0, updated_at=0.0,
    )  # fmt: skip

    async def insert_again() -> None:
        async with engine.begin() as connection:
            await connection.execute(duplicate)

    with pytest.raises(IntegrityError) as caught:
        await insert_again()
    assert "secret-token-2" not in str(caught.value)
