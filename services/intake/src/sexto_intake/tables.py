"""The intake service's tables, declared once: the cases and the directory, and the index
of students seen before.

The cases and the directory are read models of the log (the CASES and DIRECTORY streams),
dropped and rebuilt from it, so they are created from these declarations rather than
migrated. The student index is not in the log (no event carries a student number, nor its
index): it is migrated (`migrations/tables`), never dropped by a rebuild.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

READ_MODELS = MetaData(schema="intake")
MIGRATED = MetaData(schema="intake")

cases = Table(
    "cases",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("territory", Text, nullable=False),
    Column("school_id", Text, nullable=False),
    Column("protocol", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("discovered_at", DateTime(timezone=True), nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("reported_by", Text, nullable=False),
    Column("students", JSONB, nullable=False),
    Column("escalated", Boolean, nullable=False, server_default=false()),
    Column("version", BigInteger, nullable=False),
    # The case's lifecycle (sexto_protocols.lifecycle.CaseLifecycle), moved by every event
    # of the case: its status word is the one the police queue shows.
    Column("lifecycle", JSONB, nullable=False, server_default="{}"),
)
# A school's cases, newest first (the listing's order and its paging key).
Index("cases_school", cases.c.school_id, cases.c.reported_at.desc(), cases.c.case_id)

dir_territories = Table(
    "dir_territories",
    READ_MODELS,
    Column("territory_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    # A directory read model made before jurisdictions gains the column in place, at the
    # upcaster's default (projections/directory.py): those territories were Quebec's.
    Column("jurisdiction", Text, nullable=False, server_default=text("'qc'")),
)

dir_agreements = Table(
    "dir_agreements",
    READ_MODELS,
    Column("agreement_id", Text, primary_key=True),
    Column("territory_id", Text, nullable=False),
    Column("signed_on", Date, nullable=False),
    Column("in_force_from", Date, nullable=False),
    Column("in_force_to", Date),
)

dir_schools = Table(
    "dir_schools",
    READ_MODELS,
    Column("school_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("territory_id", Text, nullable=False),
    Column("language", Text, nullable=False),
)

dir_interveners = Table(
    "dir_interveners",
    READ_MODELS,
    Column("intervener_id", Text, primary_key=True),
    Column("school_id", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("certified_on", Date, nullable=False),
)

# A keyed blind index of a school's own student numbers, per territory: HMAC-SHA256 under
# the territory's key in the key vault, never the number. One row per student of a case;
# the student's data-subject key id is how an erasure finds it (legal.subject_shredded).
student_index = Table(
    "student_index",
    MIGRATED,
    Column("territory", Text, primary_key=True),
    Column("blind_index", Text, primary_key=True),
    Column("case_id", Text, primary_key=True),
    Column("student_ref", Text, primary_key=True),
    Column("subject_key", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
Index("student_index_subject", student_index.c.subject_key)

CASES = (cases,)
DIRECTORY = (dir_territories, dir_agreements, dir_schools, dir_interveners)
