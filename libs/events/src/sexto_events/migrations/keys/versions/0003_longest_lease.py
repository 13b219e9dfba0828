"""The longest shred-epoch lease any vault has taken: a shred waits it, whatever its own.

Each vault records its lease here (`GREATEST`) before it trusts any epoch it reads; a shred
reads it in the statement that bumps the epoch and waits the longer of its own and this one.
So a process started with a longer `SEXTO_KEY_LEASE_S` than the one shredding can never
outlive the shred's wait. Lowered by hand only, once every process runs with the lower
value (docs/performance.md).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "sexto_keys"


def upgrade() -> None:
    op.add_column(
        "shred_epoch",
        sa.Column("longest_lease_s", sa.Float(), nullable=False, server_default="0"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("shred_epoch", "longest_lease_s", schema=SCHEMA)
