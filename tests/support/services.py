"""Helpers for tests that run the services against the suite's servers."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.consumer import DurableConsumer, consumer_info
from sexto_events.settings import EventLogSettings
from sexto_service.runtime import ServiceRuntime

from tests.conftest import MASTER_KEY


def service_settings(nats_server: NatsServer, postgres: EmbeddedPostgres) -> EventLogSettings:
    """The services' settings: the suite's servers and master key."""
    return EventLogSettings(
        environment="test",
        nats_url=nats_server.url,
        database_url=postgres.dsn,
        master_key=base64.b64encode(MASTER_KEY).decode(),
    )


async def settled_rows(
    runtime: ServiceRuntime, consumer: DurableConsumer, query: str
) -> list[tuple[Any, ...]]:
    """The rows of `query` once the consumer has every event delivered and acknowledged."""
    deadline = time.monotonic() + 30
    while True:
        info = await consumer_info(runtime.nc, "CASES", consumer.durable)
        if info["num_pending"] == 0 and info["num_ack_pending"] == 0:
            break
        assert time.monotonic() < deadline, "the projection did not settle"
        await asyncio.sleep(0.05)
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(query)
    return [tuple(r.values()) for r in rows]


def caught_up(client: TestClient, timeout_s: float = 180) -> None:
    """Wait until every durable consumer of the app's service has read the whole stream.

    A service started after other tests wrote many cases first works through all of them
    (its reactors append for each): a test's own short wait must start from there, not
    race the backlog."""
    runtime: ServiceRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    for consumer in runtime.consumers:
        while True:
            info = client.portal.call(consumer_info, runtime.nc, consumer.stream, consumer.durable)  # type: ignore[union-attr]
            if info["num_pending"] == 0 and info["num_ack_pending"] == 0:
                break
            assert time.monotonic() < deadline, f"{consumer.durable} never caught up: {info}"
            time.sleep(0.05)
