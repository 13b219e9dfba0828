"""Append rate: one writer, and 64 cases written concurrently, beside plain js.publish."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from nats.aio.client import Client
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from bench.fixtures import fresh_cases, raw_body, read_event


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


async def run(nc: Client, store: EventStore, total: int) -> list[dict[str, Any]]:
    """Both shapes, raw first then ours, alternating to share the machine's state."""
    rows = []
    with_headers = await raw_publish_rate(nc, 1, total, headers=True)
    plain = await raw_publish_rate(nc, 1, total)
    rows.append(
        {
            "name": "(context) js.publish with the log's headers, 1 writer",
            "unit": "events/s",
            "ours": with_headers,
            "baseline": plain,
            "baseline_name": "plain js.publish: the server's share of the gap",
            "ratio": with_headers / plain,
            "target": "",
            "met": None,
        }
    )
    for writers in (1, 64):
        raw = await raw_publish_rate(nc, writers, total)
        ours = await store_append_rate(store, writers, total)
        rows.append(
            {
                "name": f"append, {writers} writer{'s' if writers > 1 else ''}",
                "unit": "events/s",
                "ours": ours,
                "baseline": raw,
                "baseline_name": "plain js.publish",
                "ratio": ours / raw,
                "target": ">= 0.8x",
                "met": ours / raw >= 0.8,
            }
        )
    return rows
