"""The escalation service's tables, declared once: the police queue, each case's scope and
the custody log, read models of the log (dropped and rebuilt from it, so created, not
migrated)."""

from __future__ import annotations

from sqlalchemy import ARRAY, BigInteger, Boolean, Column, DateTime, MetaData, Table, Text, false
from sqlalchemy.dialects.postgresql import JSONB

READ_MODELS = MetaData(schema="escalation")

escalations = Table(
    "escalations",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("territory", Text, nullable=False),
    Column("school_id", Text, nullable=False),
    Column("urgency", Text, nullable=False),
    # The most urgent urgency the case ever had: the deadline watcher's candidate filter
    # (a lowered urgency never pushes a deadline back).
    Column("most_urgent", Text, nullable=False),
    # sexto_protocols.lifecycle.Status: the one status word ("closed" leaves the active queue)
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
    # The case's lifecycle (sexto_protocols.lifecycle.CaseLifecycle) as of the last event
    # applied: the queue's status is derived from it, never set by hand.
    Column("lifecycle", JSONB, nullable=False, server_default="{}"),
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
