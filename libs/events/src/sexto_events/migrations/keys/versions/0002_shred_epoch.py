"""The shred epoch: one counter every shred bumps, so cached keys go stale in every process.

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

SCHEMA = "sexto_keys"


def upgrade() -> None:
    table = op.create_table(
        "shred_epoch",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        schema=SCHEMA,
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    raise RuntimeError("the personal-data key tables are never downgraded")
