"""The shred epoch: one counter every shred bumps, so cached keys go stale in every process;
and the creation of keys as one server-side function (one round trip and one commit where a
new case's keys took seven round trips).

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
    op.execute(CREATE_KEYS)


# Serialised with shred() per subject by the same advisory locks (taken in a fixed order),
# so a shred committing between the tombstone check and the insert cannot leave a fresh key
# behind; the epoch is read after the locks, beside the keys.
CREATE_KEYS = """
CREATE FUNCTION sexto_keys.create_keys(subjects text[], wrapped bytea[], kek text)
RETURNS TABLE (epoch bigint, subject text, wrapped_key bytea, kek_id text)
LANGUAGE plpgsql AS $$
DECLARE
    gone text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('sexto-key:' || s))
    FROM unnest(subjects) AS s ORDER BY s;
    SELECT t.subject INTO gone FROM sexto_keys.shredded_subjects t
    WHERE t.subject = ANY(subjects) LIMIT 1;
    IF gone IS NOT NULL THEN
        RAISE EXCEPTION 'subject erased' USING DETAIL = gone;
    END IF;
    INSERT INTO sexto_keys.subject_keys AS k (subject, wrapped_key, kek_id)
    SELECT n.s, n.w, kek FROM unnest(subjects, wrapped) AS n(s, w)
    ON CONFLICT ON CONSTRAINT subject_keys_pkey DO NOTHING;
    RETURN QUERY
    SELECT e.epoch, k.subject, k.wrapped_key, k.kek_id
    FROM sexto_keys.shred_epoch e JOIN sexto_keys.subject_keys k ON k.subject = ANY(subjects);
END
$$
"""


def downgrade() -> None:
    raise RuntimeError("the personal-data key tables are never downgraded")
