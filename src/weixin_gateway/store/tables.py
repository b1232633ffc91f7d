"""The schema, as SQLAlchemy Core tables: the single source the migrations are checked against.

Times are Unix seconds (``DOUBLE PRECISION``) taken from the application's
:class:`~weixin_gateway._clock.Clock`, as :class:`~weixin_gateway.mp.tokens.CachedToken` keeps
them, so SQLite and PostgreSQL store and compare them the same way.

* ``credentials`` — one row per (app, kind): an access_token, a jsapi_ticket, ...
* ``leases`` — named single-holder locks that expire on the row itself
  (:mod:`weixin_gateway.store.leases`).

A change here needs a new migration in ``store/migrations/versions``; a test compares the
schema these tables create with the one the migrations build.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Column, Double, MetaData, String, Table, Text

__all__ = ["NAMING_CONVENTION", "credentials", "leases", "metadata"]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: Final = MetaData(naming_convention=NAMING_CONVENTION)

credentials: Final = Table(
    "credentials",
    metadata,
    Column("app_id", String(128), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("fetched_at", Double, nullable=True),
    Column("updated_at", Double, nullable=False),
)

leases: Final = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", Double, nullable=False),
)
