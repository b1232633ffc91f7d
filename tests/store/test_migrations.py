"""Migrations: empty → head, the migrated schema equals ``metadata.create_all``'s, idempotence."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway.store import create_engine, current_revision, head_revision, metadata, upgrade


def _snapshot(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    dialect = connection.dialect
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        schema[table] = {
            "columns": [
                (c["name"], c["type"].compile(dialect=dialect), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), i["unique"])
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return schema


async def _schema(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(_snapshot)


async def test_empty_to_head(empty_engine: AsyncEngine) -> None:
    assert await current_revision(empty_engine) is None
    assert await _schema(empty_engine) == {}
    await upgrade(empty_engine)
    assert await current_revision(empty_engine) == head_revision()
    assert set(await _schema(empty_engine)) == {
        "accounts",
        "context_tokens",
        "credentials",
        "events",
        "leases",
        "send_tasks",
    }


async def test_migrated_schema_equals_metadata(empty_engine: AsyncEngine) -> None:
    await upgrade(empty_engine)
    migrated = await _schema(empty_engine)
    async with empty_engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.execute(text("DROP TABLE alembic_version"))
    assert await _schema(empty_engine) == {}
    async with empty_engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    fresh = await _schema(empty_engine)
    assert fresh == migrated
    assert fresh["credentials"]["pk"]["constrained_columns"] == ["app_id", "kind"]
    assert fresh["leases"]["pk"]["constrained_columns"] == ["name"]


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    before = await _schema(engine)
    await upgrade(engine)
    await upgrade(engine)
    assert await _schema(engine) == before
    assert await current_revision(engine) == head_revision()


async def test_concurrent_upgrades_from_two_engines(database_url: str) -> None:
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        async with asyncio.timeout(20):
            await asyncio.gather(*(upgrade(e) for e in engines))
        for e in engines:
            assert await current_revision(e) == head_revision()
    finally:
        for e in engines:
            await e.dispose()
