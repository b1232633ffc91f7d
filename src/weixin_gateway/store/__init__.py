"""Durable state in SQLite or PostgreSQL: engine, schema, migrations, leases, token storage.

* :func:`create_engine` — an async engine chosen by the URL's scheme (:mod:`.engine`);
  :func:`dispose_engine` closes it and its SQLite writer thread (:mod:`._writer`).
* :data:`metadata` — the tables (:mod:`.tables`); :func:`upgrade` — migrate to head
  (:mod:`.migrate`).
* :class:`Leases` — named single-holder locks that expire on the row (:mod:`.leases`).
* :class:`SqlTokenStore` — a :class:`~weixin_gateway.mp.tokens.TokenStore` on the database.
* :class:`AccountStore`, :class:`EventStore`, :class:`SendTaskStore` — the gateway service's
  accounts, inbound events (delivery and inbox state) and asynchronous sends.
"""

from __future__ import annotations

from weixin_gateway.store._writer import dispose_engine
from weixin_gateway.store.accounts import AccountRecord, AccountStore
from weixin_gateway.store.engine import (
    create_engine,
    database_url,
    default_database_url,
    redact_url,
)
from weixin_gateway.store.events import (
    ClaimConflict,
    EventRecord,
    EventStore,
    IngestResult,
    NewEvent,
)
from weixin_gateway.store.leases import Leases, LeaseTimeoutError
from weixin_gateway.store.migrate import current_revision, head_revision, upgrade
from weixin_gateway.store.send_tasks import SendTaskRecord, SendTaskStore
from weixin_gateway.store.tables import credentials, leases, metadata
from weixin_gateway.store.tokens import SqlTokenStore

__all__ = [
    "AccountRecord",
    "AccountStore",
    "ClaimConflict",
    "EventRecord",
    "EventStore",
    "IngestResult",
    "LeaseTimeoutError",
    "Leases",
    "NewEvent",
    "SendTaskRecord",
    "SendTaskStore",
    "SqlTokenStore",
    "create_engine",
    "credentials",
    "current_revision",
    "database_url",
    "default_database_url",
    "dispose_engine",
    "head_revision",
    "leases",
    "metadata",
    "redact_url",
    "upgrade",
]
