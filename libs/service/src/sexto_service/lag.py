"""Is it stuck? Each durable consumer's lag as the server sees it, and its parked dead
letters as its database holds them, read at each scrape of /metrics (nothing polls
in between)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Gauge
from sexto_events.consumer import consumer_info

if TYPE_CHECKING:
    from sexto_service.runtime import ServiceRuntime

log = structlog.get_logger("sexto.service")

PENDING = Gauge(
    "sexto_consumer_pending", "Events on the stream not yet delivered to the consumer",
    ["consumer"],
)  # fmt: skip
ACK_PENDING = Gauge(
    "sexto_consumer_ack_pending", "Events delivered and not yet acknowledged", ["consumer"]
)
SERVER_REDELIVERED = Gauge(
    "sexto_consumer_redelivered_now",
    "Events the server is redelivering (delivered more than once, not yet acknowledged)",
    ["consumer"],
)
PARKED = Gauge(
    "sexto_consumer_dead_letters_parked", "Dead letters on record for the consumer", ["consumer"]
)
SCRAPE_TIMEOUT_S = 2.0


async def refresh_consumer_metrics(runtime: ServiceRuntime | None) -> None:
    """Bring the lag and dead-letter gauges of the service's consumers up to date; a server
    that does not answer leaves the last figures (and says so in the log)."""
    if runtime is None or not runtime.consumers:
        return
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S):
            for consumer in runtime.consumers:
                info = await consumer_info(runtime.nc, consumer.stream, consumer.durable)
                PENDING.labels(consumer.durable).set(info.get("num_pending", 0))
                ACK_PENDING.labels(consumer.durable).set(info.get("num_ack_pending", 0))
                SERVER_REDELIVERED.labels(consumer.durable).set(info.get("num_redelivered", 0))
            schema = runtime.consumers[0].schema
            async with runtime.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT consumer, count(*) AS parked FROM {schema}.dead_letters "
                    "GROUP BY consumer"
                )
        parked = {str(r["consumer"]): int(r["parked"]) for r in rows}
        for consumer in runtime.consumers:
            PARKED.labels(consumer.durable).set(parked.get(consumer.durable, 0))
    except Exception as exc:
        log.warning("consumer metrics not refreshed", error_type=type(exc).__name__)
