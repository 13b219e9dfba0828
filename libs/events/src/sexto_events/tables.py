"""The tables the event library owns, declared once: the personal-data keys and the consumer
runtime's checkpoints and dead letters.

Declared with SQLAlchemy Core only to name their columns and render their DDL; queries stay
plain SQL on asyncpg (the hot path). Neither is derived from the log, so both change only
through a versioned migration (`sexto_events.migrate`); the migrations' test keeps these
declarations and the migrated database equal.
"""

from __future__ import annotations

import functools

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
)

KEY_SCHEMA = "sexto_keys"

KEYS = MetaData(schema=KEY_SCHEMA)
"""Personal-data keys: deleting a subject's key is its erasure, so they are never rebuilt."""

subject_keys = Table(
    "subject_keys",
    KEYS,
    Column("subject", Text, primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("kek_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

shredded_subjects = Table(
    "shredded_subjects",
    KEYS,
    Column("subject", Text, primary_key=True),
    Column("shredded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

shred_epoch = Table(
    "shred_epoch",
    KEYS,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False),
    Column("longest_lease_s", Float, nullable=False, server_default="0"),
)
"""One row, bumped by every shred in its transaction: a cached key read at an older epoch
is not used once the shred has returned (`sexto_events.epoch_lease`); beside it, the longest
lease any vault has taken, which every shred waits."""

RUNTIME = MetaData()
"""The consumer runtime's tables, placed in each service's schema by `runtime_tables`.

A rebuild clears only its own consumer's rows: the reactors' positions and the dead letters
outlive it, so these tables are migrated, not dropped.
"""

projection_checkpoints = Table(
    "projection_checkpoints",
    RUNTIME,
    Column("consumer", Text, nullable=False),
    Column("case_key", Text, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", Text, nullable=False),
    PrimaryKeyConstraint("consumer", "case_key"),
)

projection_positions = Table(
    "projection_positions",
    RUNTIME,
    Column("consumer", Text, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

consumer_failures = Table(
    "consumer_failures",
    RUNTIME,
    Column("consumer", Text, nullable=False),
    Column("stream_seq", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    PrimaryKeyConstraint("consumer", "stream_seq"),
)

dead_letters = Table(
    "dead_letters",
    RUNTIME,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("consumer", Text, nullable=False),
    Column("stream_seq", BigInteger, nullable=False),
    Column("subject", Text, nullable=False),
    Column("event_id", Text),
    Column("event_type", Text),
    Column("error_type", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("deliveries", Integer, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("consumer", "stream_seq"),
)


@functools.cache
def runtime_tables(schema: str) -> MetaData:
    """The runtime's tables as they stand in `schema` (a service's own)."""
    placed = MetaData(schema=schema)
    for table in RUNTIME.sorted_tables:
        table.to_metadata(placed, schema=schema)
    return placed
