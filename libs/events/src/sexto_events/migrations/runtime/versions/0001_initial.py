"""The consumer runtime's tables as first created, in the schema of their version table.

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

TABLES = ("projection_checkpoints", "projection_positions", "consumer_failures", "dead_letters")


def _schema() -> str | None:
    # One set of scripts serves every service: the tables go where the version table is.
    return op.get_context().version_table_schema


def upgrade() -> None:
    schema = _schema()
    # If not exists: a database from before migrations already holds these tables.
    op.create_table(
        "projection_checkpoints",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("case_key", sa.Text(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "case_key"),
        schema=schema,
        if_not_exists=True,
    )
    op.create_table(
        "projection_positions",
        sa.Column("consumer", sa.Text(), primary_key=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        schema=schema,
        if_not_exists=True,
    )
    op.create_table(
        "consumer_failures",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "stream_seq"),
        schema=schema,
        if_not_exists=True,
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text()),
        sa.Column("event_type", sa.Text()),
        sa.Column("error_type", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("consumer", "stream_seq"),
        schema=schema,
        if_not_exists=True,
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table, schema=_schema())
