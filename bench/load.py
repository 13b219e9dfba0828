"""One case's load latency, with 1 thousand and 1 million events in the stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client
from sexto_events.direct_get import DirectReader
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from bench.fixtures import fresh_cases, raw_body, read_event
from bench.stats import latencies_ms, percentile
from tests.support.events import reported

CASE_EVENTS = 20


async def write_case(store: EventStore) -> CaseRef:
    """A case of 20 events: a report with sealed personal data, then 19 facts."""
    case = fresh_cases("loadbench", 1)[0]
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    for _ in range(CASE_EVENTS - 1):
        version = (await store.append(case, [read_event()], version)).version
    return case


async def fill(nc: Client, total: int, cases: int = 50_000) -> None:
    """Bring the stream to `total` messages with other cases' events (pipelined, acked)."""
    js = nc.jetstream(publish_async_max_pending=8192)
    body = raw_body()
    for i in range(await stream_size(nc), total):
        await js.publish_async(f"cases.fill.c{i % cases}.bench.filler", body)
    await asyncio.wait_for(js.publish_async_completed(), 300)
    size = await stream_size(nc)
    if size < total:
        raise RuntimeError(f"the stream holds {size} messages after filling to {total}")


async def stream_size(nc: Client) -> int:
    """Messages in CASES."""
    info = json.loads((await nc.request("$JS.API.STREAM.INFO.CASES", b"", 10)).data)
    return int(info["state"]["messages"])


async def ordered_consumer_read(nc: Client, case: CaseRef) -> int:
    """The common alternative: an ephemeral ordered consumer per load."""
    js = nc.jetstream()
    sub = await js.subscribe(f"cases.{case.territory}.{case.case_id}.>", ordered_consumer=True)
    count = 0
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            count += 1
            if msg.metadata.num_pending == 0:
                return count
    finally:
        await sub.unsubscribe()


async def measure(
    nc: Client, store: EventStore, case: CaseRef, label: str, runs: int
) -> list[dict[str, Any]]:
    """p50/p99 of our load beside a raw batched direct get and an ordered consumer."""
    raw = DirectReader(nc, "CASES")
    subject = f"cases.{case.territory}.{case.case_id}.>"
    assert len((await store.load(case)).events) == CASE_EVENTS
    for _ in range(50):  # warm-up
        await store.load(case)
        await raw.read(subject)
    ours = await latencies_ms(lambda: store.load(case), runs)
    direct = await latencies_ms(lambda: raw.read(subject), runs)
    ordered = await latencies_ms(lambda: ordered_consumer_read(nc, case), max(runs // 5, 50))
    await raw.close()
    rows: list[dict[str, Any]] = []
    for q in (50, 99):
        rows.append(
            {
                "name": f"load one case (20 events), {label} in stream, p{q}",
                "unit": "ms",
                "ours": percentile(ours, q),
                "baseline": percentile(ordered, q),
                "baseline_name": "ordered consumer per load",
                "raw_direct_get_ms": percentile(direct, q),
                "ratio": percentile(ordered, q) / percentile(ours, q),
                "target": "<= 5 ms p50" if q == 50 else "",
                "met": percentile(ours, q) <= 5 if q == 50 else None,
            }
        )
    return rows
