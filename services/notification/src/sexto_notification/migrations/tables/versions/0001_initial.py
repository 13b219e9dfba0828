"""Subscriptions and the delivery outbox as first created.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "notification"


def upgrade() -> None:
    # If not exists: a database from before migrations already holds these tables.
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("types", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("territory", sa.Text()),
        sa.Column("school_id", sa.Text()),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary()),
        sa.Column("previous_until", sa.DateTime(timezone=True)),
        sa.Column("owner_subject", sa.Text(), nullable=False),
        sa.Column("owner_role", sa.Text(), nullable=False),
        sa.Column("from_seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("idempotency_key", sa.Text()),
        schema=SCHEMA,
        if_not_exists=True,
    )
    op.create_index(
        "subscriptions_idempotency",
        "subscriptions",
        ["owner_subject", "idempotency_key"],
        unique=True,
        schema=SCHEMA,
        if_not_exists=True,
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("territory", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("traceparent", sa.Text()),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("recipient_kind", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("body", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
        if_not_exists=True,
    )
    op.create_index(
        "deliveries_heads",
        "deliveries",
        ["channel", "target", "case_id", "seq"],
        postgresql_where=sa.text("status <> 'sent' AND status <> 'cancelled'"),
        schema=SCHEMA,
        if_not_exists=True,
    )
    op.create_index(
        "deliveries_status",
        "deliveries",
        ["status", "created_at"],
        schema=SCHEMA,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("deliveries", schema=SCHEMA)
    op.drop_table("subscriptions", schema=SCHEMA)
