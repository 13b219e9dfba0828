"""A projection consumer in a process of its own, for the kill-and-restart test.

usage: python -m tests.support.consumer_proc NATS_URL DSN SCHEMA DURABLE FILTER
"""

from __future__ import annotations

import asyncio
import sys

from sexto_events.connection import connect
from sexto_events.consumer import ConsumerSettings, DurableConsumer
from sexto_events.db import create_pool
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.store import EventStore

from tests.conftest import LEASE_S, MASTER_KEY
from tests.support.projections import EventCounter


async def main(nats_url: str, dsn: str, schema: str, durable: str, subject: str) -> None:
    nc = await connect(nats_url)
    pool = await create_pool(dsn)
    store = EventStore(
        nc,
        source="sexto/tests",
        codec=PersonalDataCodec(KeyVault(pool, MASTER_KEY, lease_seconds=LEASE_S)),
    )
    consumer = DurableConsumer(
        nc=nc,
        pool=pool,
        decoder=store.decoder,
        schema=schema,
        durable=durable,
        handler=EventCounter(schema, delay_s=0.01),
        filter_subject=subject,
        settings=ConsumerSettings(batch=16, ack_wait_s=2.0),
    )
    await consumer.setup()
    print("ready", flush=True)
    await consumer.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
