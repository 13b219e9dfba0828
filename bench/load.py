"""One case's load latency, with 1 thousand and 1 million events in the stream, and how a
load and the command loop grow with the case (10, 100, 1,000 events)."""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from typing import Any

from nats.aio.client import Client
from sexto_events.direct_get import DirectReader
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from bench.fixtures import fresh_cases, raw_body, read_event
from bench.rows import row
from bench.stats import latencies_ms, percentile
from tests.support.events import reported

CASE_EVENTS = 20
SIZES = (10, 100, 1000)


async def write_case(store: EventStore) -> CaseRef:
    """A case of 20 events: a report with sealed personal data, then 19 facts."""
    case = fresh_cases("loadbench", 1)[0]
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    for _ in range(CASE_EVENTS - 1):
        version = (await store.append(case, [read_event()], version)).version
    return case


async def case_of(store: EventStore, events: int) -> CaseRef:
    """A case of `events` events: a sealed report, then facts appended 100 at a time."""
    case = fresh_cases("growbench", 1)[0]
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    written = 1
    while written < events:
        batch = min(100, events - written)
        version = (await store.append(case, [read_event() for _ in range(batch)], version)).version
        written += batch
    return case


async def loop_rate(store: EventStore, case: CaseRef, commands: int) -> float:
    """Commands/s of load + append one event on one case, sequentially."""
    start = time.perf_counter()
    for _ in range(commands):
        loaded = await store.load(case)
        await store.append(case, [read_event()], loaded.version)
    return commands / (time.perf_counter() - start)


async def growth(stores: dict[str, EventStore], runs: int, commands: int) -> list[dict[str, Any]]:
    """Load p50 and command loop rate per case size, each beside the 20-event case's."""
    rows: list[dict[str, Any]] = []
    writer = next(iter(stores.values()))
    cases = {n: await case_of(writer, n) for n in (CASE_EVENTS, *SIZES)}
    for mode, store in stores.items():
        p50 = {}
        for n, case in cases.items():
            for _ in range(10):  # warm-up (and, with the case cache on, the cached prefix)
                await store.load(case)
            p50[n] = percentile(await latencies_ms(partial(store.load, case), runs), 50)
        for n in SIZES:
            rows.append(
                row(f"load one case ({n} events), {mode}, p50", "ms", p50[n], p50[CASE_EVENTS],
                    f"a 20-event case, {mode}", lower_is_better=True,
                    at_least=0.5 if n == 1000 else None)
            )  # fmt: skip
    for mode, store in stores.items():
        # Each size measured on a copy of its case, so the loads above stay comparable.
        rates = {n: await loop_rate(store, await case_of(writer, n), commands)
                 for n in (CASE_EVENTS, *SIZES)}  # fmt: skip
        for n in SIZES:
            rows.append(
                row(f"command loop, case of {n} events, {mode}", "commands/s", rates[n],
                    rates[CASE_EVENTS], f"a 20-event case, {mode}",
                    at_least=0.5 if n == 1000 else None)
            )  # fmt: skip
    return rows


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
