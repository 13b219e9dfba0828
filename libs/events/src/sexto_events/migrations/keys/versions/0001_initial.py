"""The personal-data key tables as first created.

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

SCHEMA = "sexto_keys"


def upgrade() -> None:
    # If not exists: a database from before migrations already holds these tables.
    op.create_table(
        "subject_keys",
        sa.Column("subject", sa.Text(), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
        if_not_exists=True,
    )
    op.create_table(
        "shredded_subjects",
        sa.Column("subject", sa.Text(), primary_key=True),
        sa.Column(
            "shredded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
        if_not_exists=True,
    )


def downgrade() -> None:
    raise RuntimeError(
        "the personal-data keys are never dropped: deleting them erases every data subject"
    )
