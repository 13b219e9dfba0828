"""The keyed blind index of students' school numbers, per territory.

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

SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "student_index",
        sa.Column("territory", sa.Text(), primary_key=True),
        sa.Column("blind_index", sa.Text(), primary_key=True),
        sa.Column("case_id", sa.Text(), primary_key=True),
        sa.Column("student_ref", sa.Text(), primary_key=True),
        sa.Column("subject_key", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("student_index_subject", "student_index", ["subject_key"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("student_index_subject", table_name="student_index", schema=SCHEMA)
    op.drop_table("student_index", schema=SCHEMA)
