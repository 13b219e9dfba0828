"""A service is ready only once each read model has taken what the log held for it: a
restarted service behind its log must not answer from stale tables."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import asyncpg
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.consumer import ConsumerSettings, DurableConsumer
from sexto_events.migrate import migrate_runtime
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore
from sexto_service.runtime import readiness_checks

from tests.support.events import note, reported
from tests.support.projections import EventCounter


async def test_ready_once_each_read_model_has_caught_up_and_then_for_good(
    nc: Client, store: EventStore, pool: asyncpg.Pool, postgres: EmbeddedPostgres
) -> None:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    await migrate_runtime(postgres.dsn, schema)
    territory = f"t{uuid.uuid4().hex[:10]}"
    case = CaseRef(territory, uuid.uuid4().hex)
    version = (await store.append(case, [reported(student_ref="r1")], CaseVersion.new())).version
    consumer = DurableConsumer(
        nc=nc, pool=pool, decoder=store.decoder, schema=schema, durable=f"tests-{schema}",
        handler=EventCounter(schema), filter_subject=f"cases.{territory}.>",
        settings=ConsumerSettings(ack_wait_s=5.0),
    )  # fmt: skip
    await consumer.setup()  # the durable exists, nothing taken yet: a service just restarted
    app = FastAPI()
    app.state.runtime = SimpleNamespace(nc=nc, consumers=[consumer], caught_up=set())
    check = readiness_checks(app)["read_models"]

    with pytest.raises(RuntimeError, match=f"read models catching up: .*{consumer.durable}"):
        await check()

    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(300):
            try:
                await check()
                break
            except RuntimeError:
                await asyncio.sleep(0.05)
        await check()
        # Once caught up, ready for good: a busy log later does not make the service unready.
        consumer.stop()
        await task
        await store.append(case, [note("later")], version)
        await check()
    finally:
        consumer.stop()
        if not task.done():
            await task
