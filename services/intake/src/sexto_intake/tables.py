"""The intake service's tables, declared once: the cases and the directory.

Both are read models of the log (the CASES and DIRECTORY streams), dropped and rebuilt from
it, so they are created from these declarations rather than migrated.
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
)
from sqlalchemy.dialects.postgresql import JSONB

READ_MODELS = MetaData(schema="intake")

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
)
# A school's cases, newest first (the listing's order and its paging key).
Index("cases_school", cases.c.school_id, cases.c.reported_at.desc(), cases.c.case_id)

dir_territories = Table(
    "dir_territories",
    READ_MODELS,
    Column("territory_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
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

CASES = (cases,)
DIRECTORY = (dir_territories, dir_agreements, dir_schools, dir_interveners)
