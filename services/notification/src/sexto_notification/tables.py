"""The notification service's tables, declared once.

Subscriptions are partners' configuration and deliveries the outbox (what is still to send):
neither is derived from the log, so they outlive a rebuild and change only through a
versioned migration (`migrations/`). The cases, recipients, outcomes and schools are read
models of the log, dropped and rebuilt from it, so created from these declarations.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    false,
    func,
    text,
)

SCHEMA = "notification"
MIGRATED = MetaData(schema=SCHEMA)
READ_MODELS = MetaData(schema=SCHEMA)

subscriptions = Table(
    "subscriptions",
    MIGRATED,
    Column("id", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("types", ARRAY(Text), nullable=False),
    Column("territory", Text),
    Column("school_id", Text),
    Column("secret", LargeBinary, nullable=False),
    Column("previous_secret", LargeBinary),
    Column("previous_until", DateTime(timezone=True)),
    Column("owner_subject", Text, nullable=False),
    Column("owner_role", Text, nullable=False),
    Column("from_seq", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True)),
)

deliveries = Table(
    "deliveries",
    MIGRATED,
    Column("id", Text, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("territory", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("traceparent", Text),
    Column("channel", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("recipient_kind", Text, nullable=False),
    Column("template", Text, nullable=False),
    Column("body", Text),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("leased_until", DateTime(timezone=True)),
    Column("lease_token", Text),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
)
# The oldest delivery not yet settled per recipient and case: the only one the sender tries.
Index(
    "deliveries_heads",
    deliveries.c.channel,
    deliveries.c.target,
    deliveries.c.case_id,
    deliveries.c.seq,
    postgresql_where=text("status <> 'sent' AND status <> 'cancelled'"),
)
Index("deliveries_status", deliveries.c.status, deliveries.c.created_at)

cases = Table(
    "cases",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("territory", Text, nullable=False),
    Column("school_id", Text, nullable=False),
    Column("protocol", Text, nullable=False),
    Column("protocol_version", Text),
    Column("escalated", Boolean, nullable=False, server_default=false()),
)

recipients = Table(
    "recipients",
    READ_MODELS,
    Column("case_id", Text, primary_key=True),
    Column("recipient_ref", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("student_ref", Text),
    Column("language", Text),
    Column("event_id", Text, nullable=False),
)

outcomes = Table(
    "outcomes",
    READ_MODELS,
    Column("event_id", Text, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("delivery_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient_ref", Text, nullable=False),
    Column("recipient_kind", Text, nullable=False),
    Column("template_version", Text, nullable=False),
    Column("about_event_id", Text, nullable=False),
    Column("about_type", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("final", Boolean, nullable=False),
    Column("detail", Text, nullable=False),
)
Index("outcomes_case", outcomes.c.case_id, outcomes.c.at)

schools = Table(
    "schools",
    READ_MODELS,
    Column("school_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("territory", Text, nullable=False),
    Column("language", Text, nullable=False),
)

DISPATCH = (cases, recipients, outcomes)
SCHOOLS = (schools,)
