"""Alembic's entry point for the store's migrations (run by :mod:`weixin_gateway.store.migrate`).

The caller passes an open synchronous connection (the async engine's, inside ``run_sync``) in
``config.attributes["connection"]``; no ``alembic.ini`` and no URL are needed. Running
migrations from two processes at once is safe: the first one takes a lock (PostgreSQL: an
advisory transaction lock; SQLite: ``BEGIN IMMEDIATE``) and the second finds the schema at head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from weixin_gateway.store.tables import metadata

MIGRATION_LOCK_KEY = 0x77675F6D6967  # "wg_mig": the advisory lock key of migrations


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # SQLite's DDL is transactional: all steps commit together under the lock, so a second
        # process never sees a half-migrated schema
        transactional_ddl=True,
    )
    with context.begin_transaction():
        _lock(connection)
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "run the store's migrations with weixin_gateway.store.migrate.upgrade(engine)"
    )
run_migrations(_connection)
