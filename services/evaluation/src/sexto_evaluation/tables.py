"""The evaluation service's table, declared once: each case's scope and the state of its
grids, a read model of the log (dropped and rebuilt from it, so created, not migrated)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

READ_MODELS = MetaData(schema="evaluation")

cases = Table(
    "cases",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("territory", Text, nullable=False),
    Column("school_id", Text, nullable=False),
    Column("protocol_version", Text, nullable=False),
    Column("grids", JSONB, nullable=False, server_default="{}"),
    Column("recommendation", Text),
    Column("urgency", Text),
    Column("version", BigInteger, nullable=False),
)

CASES = (cases,)
