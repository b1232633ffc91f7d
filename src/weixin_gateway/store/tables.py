"""The schema, as SQLAlchemy Core tables: the single source the migrations are checked against.

Times are Unix seconds (``DOUBLE PRECISION``) taken from the application's
:class:`~weixin_gateway._clock.Clock`, as :class:`~weixin_gateway.mp.tokens.CachedToken` keeps
them, so SQLite and PostgreSQL store and compare them the same way.

* ``credentials`` — one row per (app, kind): an access_token, a jsapi_ticket, ...
* ``leases`` — named single-holder locks that expire on the row itself
  (:mod:`weixin_gateway.store.leases`).
* ``accounts`` — one iLink bot account of the gateway service: credentials, cursor, state.
* ``events`` — every inbound message, stored once, with its delivery state (callback or inbox);
  ``seq`` orders them, ``(account_id, message_id)`` is unique (re-deliveries are dropped).
* ``context_tokens`` — the latest ``context_token`` per (account, user), for sends that omit it.
* ``send_tasks`` — ``POST /send/async`` requests and their outcome.

A change here needs a new migration in ``store/migrations/versions``; a test compares the
schema these tables create with the one the migrations build.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "NAMING_CONVENTION",
    "accounts",
    "context_tokens",
    "credentials",
    "events",
    "leases",
    "metadata",
    "send_tasks",
]

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

accounts: Final = Table(
    "accounts",
    metadata,
    Column("account_id", String(255), primary_key=True),
    Column("api_base_url", String(1024), nullable=False),
    Column("cdn_base_url", String(1024), nullable=False, server_default=""),
    Column("bot_token", Text, nullable=False),
    Column("bot_id", String(255), nullable=False, server_default=""),
    Column("wechat_uin", String(255), nullable=False, server_default=""),
    Column("owner_user_id", String(255), nullable=False, server_default=""),
    Column("cursor", Text, nullable=False, server_default=""),
    Column("session_state", String(16), nullable=False, server_default="active"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("last_forwarded", Integer, nullable=False, server_default="0"),
    Column("last_poll_finished_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

_SEQ = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

events: Final = Table(
    "events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("account_id", String(255), nullable=False),
    Column("message_id", String(32), nullable=True),
    Column("fingerprint", String(64), nullable=False),
    Column("create_time_ms", BigInteger, nullable=True),
    Column("chat_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("context_token", Text, nullable=False),
    Column("attachments", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("ready", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("claim_worker", String(255), nullable=True),
    Column("claimed_at", Double, nullable=True),
    Column("lease_expires_at", Double, nullable=True),
    Column("error", Text, nullable=False),
    Column("completion_note", Text, nullable=False),
    Column("delivered_at", Double, nullable=True),
    Column("completed_at", Double, nullable=True),
    Column("failed_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index(None, "account_id", "message_id", unique=True),
    Index(None, "status", "mode", "seq"),
    Index(None, "account_id", "fingerprint"),
)

context_tokens: Final = Table(
    "context_tokens",
    metadata,
    Column("account_id", String(255), primary_key=True),
    Column("user_id", Text, primary_key=True),
    Column("context_token", Text, nullable=False),
    Column("updated_at", Double, nullable=False),
)

send_tasks: Final = Table(
    "send_tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(255), nullable=False),
    Column("to_user_id", String(255), nullable=False),
    Column("request", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("results", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("error_status", Integer, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index(None, "status"),
)
