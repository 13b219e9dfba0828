"""Subscriptions lose their own Idempotency-Key column: every write of every service now
goes through sexto_service.idempotency, whose records keep the first answer.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "notification"


def upgrade() -> None:
    op.drop_index("subscriptions_idempotency", table_name="subscriptions", schema=SCHEMA)
    op.drop_column("subscriptions", "idempotency_key", schema=SCHEMA)


def downgrade() -> None:
    op.add_column("subscriptions", sa.Column("idempotency_key", sa.Text()), schema=SCHEMA)
    op.create_index(
        "subscriptions_idempotency",
        "subscriptions",
        ["owner_subject", "idempotency_key"],
        unique=True,
        schema=SCHEMA,
    )
