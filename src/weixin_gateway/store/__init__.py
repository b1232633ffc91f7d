"""Durable state in SQLite or PostgreSQL: engine, schema, migrations, leases, token storage.

* :func:`create_engine` — an async engine chosen by the URL's scheme (:mod:`.engine`).
* :data:`metadata` — the tables (:mod:`.tables`); :func:`upgrade` — migrate to head
  (:mod:`.migrate`).
* :class:`Leases` — named single-holder locks that expire on the row (:mod:`.leases`).
* :class:`SqlTokenStore` — a :class:`~weixin_gateway.mp.tokens.TokenStore` on the database.
"""

from __future__ import annotations

from weixin_gateway.store.engine import (
    create_engine,
    database_url,
    default_database_url,
    redact_url,
)
from weixin_gateway.store.leases import Leases, LeaseTimeoutError
from weixin_gateway.store.migrate import current_revision, head_revision, upgrade
from weixin_gateway.store.tables import credentials, leases, metadata
from weixin_gateway.store.tokens import SqlTokenStore

__all__ = [
    "LeaseTimeoutError",
    "Leases",
    "SqlTokenStore",
    "create_engine",
    "credentials",
    "current_revision",
    "database_url",
    "default_database_url",
    "head_revision",
    "leases",
    "metadata",
    "redact_url",
    "upgrade",
]
