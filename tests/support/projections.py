"""A deliberately non-idempotent projection: applying an event twice would show."""

from __future__ import annotations

import asyncio

from sexto_events.catalogue.intake import NoteAdded
from sexto_events.db import DbConnection, create_tables, drop_tables
from sexto_events.model import RecordedEvent
from sqlalchemy import ARRAY, BigInteger, Column, Integer, MetaData, Table, Text

EVENT_COUNTS = Table(
    "event_counts",
    MetaData(),
    Column("case_key", Text, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("seqs", ARRAY(BigInteger), nullable=False),
)


class Poisoned(Exception):
    """Raised for a note whose text is 'poison'."""


class EventCounter:
    """Counts events per case and lists their sequences; fails on a 'poison' note."""

    name = "counter"

    def __init__(self, schema: str, delay_s: float = 0.0) -> None:
        self.schema = schema
        self.delay_s = delay_s
        self.tables = [EVENT_COUNTS.to_metadata(MetaData(), schema=schema)]

    async def migrate(self, conn: DbConnection) -> None:
        await create_tables(conn, self.tables)

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        if isinstance(event.data, NoteAdded) and event.data.text == "poison":
            raise Poisoned("this note cannot be projected")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        await conn.execute(
            f"INSERT INTO {self.schema}.event_counts AS c (case_key, n, seqs) "
            "VALUES ($1, 1, ARRAY[$2::bigint]) ON CONFLICT (case_key) DO UPDATE "
            "SET n = c.n + 1, seqs = array_append(c.seqs, $2::bigint)",
            f"{event.envelope.territory}/{event.envelope.subject}",
            event.seq,
        )

    async def drop(self, conn: DbConnection) -> None:
        await drop_tables(conn, self.tables)
