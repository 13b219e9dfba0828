"""Append rate: one writer, and 64 cases written concurrently, beside plain js.publish."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable
from typing import Any

from nats.aio.client import Client
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from bench.fixtures import fresh_cases, raw_body, read_event
from bench.rows import ROUNDS, median, row

# Rounds long enough to mean something at any scale: at the scale of 0.3 a 64-writer round
# was 900 events (14 a writer, 0.2 s), and the plain publish swung from 3,200 to 5,200
# events/s between rounds of one run.
APPEND_ROUNDS = max(ROUNDS, 5)
MIN_EVENTS = {1: 2000, 64: 6400}


async def raw_publish_rate(nc: Client, writers: int, total: int, headers: bool = False) -> float:
    """Events/s of plain acknowledged js.publish calls (optionally with the log's headers)."""
    js = nc.jetstream()
    body = raw_body()
    per = total // writers

    async def writer() -> None:
        case = uuid.uuid4().hex
        subject = f"cases.rawbench.{case}.bench.raw"
        seq = 0
        for _ in range(per):
            extra = None
            if headers:
                extra = {
                    "Nats-Msg-Id": uuid.uuid4().hex,
                    "Nats-Expected-Last-Subject-Sequence": str(seq),
                    "Nats-Expected-Last-Subject-Sequence-Subject": f"cases.rawbench.{case}.>",
                }
            seq = (await js.publish(subject, body, stream="CASES", headers=extra)).seq

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return per * writers / (time.perf_counter() - start)


async def store_append_rate(store: EventStore, writers: int, total: int) -> float:
    """Events/s of EventStore.append, each writer on its own case, expected version set."""
    per = total // writers

    async def writer(case: CaseRef) -> None:
        version = CaseVersion.new()
        for _ in range(per):
            version = (await store.append(case, [read_event()], version)).version

    cases = fresh_cases("appendbench", writers)
    start = time.perf_counter()
    await asyncio.gather(*(writer(c) for c in cases))
    return per * writers / (time.perf_counter() - start)


async def with_cpu(rate: Awaitable[float], total: int, cpu: list[float]) -> float:
    """`rate` awaited, with this process's CPU time per event (µs) added to `cpu`: the
    client's cost, which a busy machine distorts less than a rate."""
    start = time.process_time()
    value = await rate
    cpu.append((time.process_time() - start) / total * 1e6)
    return value


async def run(nc: Client, store: EventStore, total: int) -> list[dict[str, Any]]:
    """Both shapes, raw and ours in each of APPEND_ROUNDS rounds, in turn first (the median
    shown), so a moment of a busy machine falls on both."""
    with_headers: list[float] = []
    plain: list[float] = []
    for _ in range(APPEND_ROUNDS):
        with_headers.append(await raw_publish_rate(nc, 1, max(total, MIN_EVENTS[1]), headers=True))
        plain.append(await raw_publish_rate(nc, 1, max(total, MIN_EVENTS[1])))
    rows = [
        row("(context) js.publish with the log's headers, 1 writer", "events/s",
            median(with_headers), median(plain),
            "plain js.publish: the server's share of the gap"),
    ]  # fmt: skip
    # 64 writers: issue 19's target (>= 0.9x); one writer: the earlier >= 0.8x.
    for writers, target in ((1, 0.8), (64, 0.9)):
        raw: list[float] = []
        ours: list[float] = []
        cpu_raw: list[float] = []
        cpu_ours: list[float] = []
        events = max(total, MIN_EVENTS[writers])
        for rnd in range(APPEND_ROUNDS):
            for side in ("raw", "ours") if rnd % 2 == 0 else ("ours", "raw"):
                if side == "raw":
                    rate = raw_publish_rate(nc, writers, events)
                    raw.append(await with_cpu(rate, events, cpu_raw))
                else:
                    rate = store_append_rate(store, writers, events)
                    ours.append(await with_cpu(rate, events, cpu_ours))
        rows.append(
            row(f"append, {writers} writer{'s' if writers > 1 else ''}", "events/s",
                median(ours), median(raw),
            f"plain js.publish (median of {APPEND_ROUNDS} rounds each)",
                at_least=target, cpu_us_per_event={"ours": median(cpu_ours),
                                                   "baseline": median(cpu_raw)})
        )  # fmt: skip
    return rows
