"""the gateway service: accounts, events, context tokens, send tasks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("api_base_url", sa.String(1024), nullable=False),
        sa.Column("cdn_base_url", sa.String(1024), nullable=False, server_default=""),
        sa.Column("bot_token", sa.Text(), nullable=False),
        sa.Column("bot_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("wechat_uin", sa.String(255), nullable=False, server_default=""),
        sa.Column("owner_user_id", sa.String(255), nullable=False, server_default=""),
        sa.Column("cursor", sa.Text(), nullable=False, server_default=""),
        sa.Column("session_state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("last_forwarded", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_poll_finished_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
    )
    op.create_table(
        "events",
        sa.Column("seq", _SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("create_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("context_token", sa.Text(), nullable=False),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("claim_worker", sa.String(255), nullable=True),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("lease_expires_at", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("completion_note", sa.Text(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("completed_at", sa.Double(), nullable=True),
        sa.Column("failed_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("id", name="uq_events_id"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )
    op.create_index(
        "ix_events_account_id_message_id", "events", ["account_id", "message_id"], unique=True
    )
    op.create_index("ix_events_status_mode_seq", "events", ["status", "mode", "seq"])
    op.create_index("ix_events_account_id_fingerprint", "events", ["account_id", "fingerprint"])
    op.create_table(
        "context_tokens",
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("context_token", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "user_id", name="pk_context_tokens"),
    )
    op.create_table(
        "send_tasks",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("to_user_id", sa.String(255), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("error_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_send_tasks"),
    )
    op.create_index("ix_send_tasks_status", "send_tasks", ["status"])


def downgrade() -> None:
    op.drop_table("send_tasks")
    op.drop_table("context_tokens")
    op.drop_table("events")
    op.drop_table("accounts")
