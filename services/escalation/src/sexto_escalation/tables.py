"""The escalation service's tables, declared once: the police queue, each case's scope and
the custody log, read models of the log (dropped and rebuilt from it, so created, not
migrated)."""

from __future__ import annotations

from sqlalchemy import ARRAY, BigInteger, Boolean, Column, DateTime, MetaData, Table, Text, false

READ_MODELS = MetaData(schema="escalation")

escalations = Table(
    "escalations",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("territory", Text, nullable=False),
    Column("school_id", Text, nullable=False),
    Column("urgency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("flagged", Boolean, nullable=False, server_default=false()),
    Column("request_event_id", Text, nullable=False),
    Column("overdue", ARRAY(Text), nullable=False, server_default="{}"),
    Column("version", BigInteger, nullable=False),
)

case_scope = Table(
    "case_scope",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("territory", Text, nullable=False),
    Column("school_id", Text, nullable=False),
)

custody = Table(
    "custody",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("seal_number", Text, primary_key=True),
    Column("secured_by", Text),
    Column("secured_at", DateTime(timezone=True)),
    Column("handed_to", Text),
    Column("handed_at", DateTime(timezone=True)),
    Column("seal_state", Text, nullable=False),
)

QUEUE = (escalations, case_scope, custody)
