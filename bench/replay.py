"""Replay rate through the consumer runtime, beside a plain ordered consumer."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from nats.aio.client import Client
from sexto_events.consumer import ConsumerSettings, DurableConsumer, consumer_info
from sexto_events.db import DbConnection, create_tables, drop_tables
from sexto_events.decode import EventDecoder
from sexto_events.migrate import migrate_runtime
from sexto_events.model import RecordedEvent
from sqlalchemy import BigInteger, Column, MetaData, Table, Text

from bench.load import stream_size
from bench.rows import cpu_per_10k, heap_frozen

PER_TYPE = Table(
    "per_type", MetaData(), Column("type", Text, primary_key=True), Column("n", BigInteger)
)


class CountingProjection:
    """A minimal read model: events per type, so the cost measured is the runtime's."""

    name = "bench"

    def __init__(self, schema: str) -> None:
        self.tables = [PER_TYPE.to_metadata(MetaData(), schema=schema)]
        self.seen = 0

    async def migrate(self, conn: DbConnection) -> None:
        await create_tables(conn, self.tables)

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        self.seen += 1

    async def drop(self, conn: DbConnection) -> None:
        await drop_tables(conn, self.tables)


async def raw_ordered_rate(nc: Client, subject: str, total: int) -> float:
    """Events/s of a plain ordered push consumer reading `total` messages."""
    js = nc.jetstream()
    start = time.perf_counter()
    sub = await js.subscribe(subject, ordered_consumer=True, pending_msgs_limit=-1)
    for _ in range(total):
        await sub.next_msg(timeout=10)
    rate = total / (time.perf_counter() - start)
    await sub.unsubscribe()
    return rate


async def runtime_rate(
    nc: Client, pool: asyncpg.Pool, dsn: str, decoder: EventDecoder, subject: str, total: int
) -> tuple[float, float]:
    """Events/s of a DurableConsumer catching up on `total` events from scratch, and this
    process's CPU seconds over the same window (set-up and stop left out)."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    await migrate_runtime(dsn, schema)
    projection = CountingProjection(schema)
    consumer = DurableConsumer(
        nc=nc,
        pool=pool,
        decoder=decoder,
        schema=schema,
        durable=f"bench-{schema}",
        handler=projection,
        filter_subject=subject,
        settings=ConsumerSettings(batch=1024, max_ack_pending=20_000),
    )
    await consumer.setup()
    start, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(consumer.run())
    while projection.seen < total:  # noqa: ASYNC110 - polling a counter, no event to wait on
        await asyncio.sleep(0.005)
    rate, cpu = total / (time.perf_counter() - start), time.process_time() - cpu
    consumer.stop()
    await task
    info = await consumer_info(nc, "CASES", consumer.durable)
    assert info["num_pending"] == 0
    return rate, cpu


async def run(
    nc_raw: Client, nc: Client, pool: asyncpg.Pool, dsn: str, decoder: EventDecoder, subject: str
) -> dict[str, Any]:
    """Both over the same events."""
    total = await stream_size(nc)
    with heap_frozen():
        started = time.process_time()
        raw = await raw_ordered_rate(nc_raw, subject, total)
        raw_cpu = time.process_time() - started
        ours, ours_cpu = await runtime_rate(nc, pool, dsn, decoder, subject, total)
    return {
        "name": f"replay {total} events through the consumer runtime",
        "unit": "events/s",
        "ours": ours,
        "baseline": raw,
        "baseline_name": "plain ordered consumer",
        "ratio": ours / raw,
        "target": ">= 0.6x",
        "met": ours / raw >= 0.6,
        "cpu_s_per_10k_events": cpu_per_10k(ours_cpu, total),
        "baseline_cpu_s_per_10k_events": cpu_per_10k(raw_cpu, total),
    }
