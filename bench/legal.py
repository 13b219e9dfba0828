"""Replay to a file and `verify --all` over 1 million events, beside a plain ordered consumer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uuid_utils
from nats.aio.client import Client
from sexto_events.catalogue.audit import CaseRead
from sexto_events.chain import seal_body
from sexto_events.envelope import DATA_CONTENT_TYPE, SPEC_VERSION, format_time
from sexto_events.legal.pseudonyms import Pseudonymiser
from sexto_events.legal.replay import ReplayFilter, replay_to_file
from sexto_events.legal.verification import verify_log
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from bench.fixtures import fresh_cases
from bench.load import stream_size
from bench.replay import raw_ordered_rate
from tests.support.events import reported

PER_CASE = 50


def chained_read(case: CaseRef, prevhash: str) -> tuple[str, bytes]:
    """(hash, body) of an audit event chained after `prevhash`, built as the store builds it."""
    event_id = str(uuid_utils.uuid7())
    envelope = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": "sexto/bench",
        "type": CaseRead.type_name(),
        "subject": case.case_id,
        "time": format_time(datetime.now(UTC)),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": {"view": "history", "service": "intake"},
        "territory": case.territory,
        "actor": "legal-reviewer-3",
        "actorrole": "legal_reviewer",
        "correlationid": event_id,
        "causationid": event_id,
        "prevhash": prevhash,
    }
    return seal_body(envelope)


async def seed(nc_raw: Client, store: EventStore, total: int) -> int:
    """`total` real, chained events: a sealed report per case through the store, then audit
    events chained by hand and published pipelined (cases interleaved, each in order)."""
    cases = fresh_cases("legalbench", max(total // PER_CASE, 1))
    heads: dict[CaseRef, str] = {}
    queue: asyncio.Queue[CaseRef] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)

    async def writer() -> None:
        while not queue.empty():
            case = queue.get_nowait()
            result = await store.append(case, [reported()], CaseVersion.new())
            heads[case] = result.version.head_hash

    await asyncio.gather(*(writer() for _ in range(64)))
    js = nc_raw.jetstream(publish_async_max_pending=8192)
    for _ in range(PER_CASE - 1):
        for case in cases:
            heads[case], body = chained_read(case, heads[case])
            subject = f"cases.{case.territory}.{case.case_id}.audit.case_read"
            await js.publish_async(subject, body)
    await asyncio.wait_for(js.publish_async_completed(), 600)
    return await stream_size(nc_raw)


async def run(
    nc_raw: Client, nc: Client, store: EventStore, folder: Path, master_key: bytes
) -> list[dict[str, Any]]:
    """Replay to a file (analyst: pseudonymised) and verify --all, beside the raw rate."""
    total = await stream_size(nc)
    raw = await raw_ordered_rate(nc_raw, "cases.>", total)
    out = folder / "replay.jsonl"
    start = time.perf_counter()
    summary = await replay_to_file(
        nc, store.spec, out, selection=ReplayFilter(),
        pseudonyms=Pseudonymiser.from_master_key(master_key),
    )  # fmt: skip
    replay_rate = summary.events / (time.perf_counter() - start)
    size_mb = out.stat().st_size / 1e6
    out.unlink()
    assert summary.events == total, (summary.events, total)
    start = time.perf_counter()
    verified = await verify_log(nc, store.spec)
    verify_rate = verified.events / (time.perf_counter() - start)
    assert verified.ok
    assert verified.events == total
    return [
        {
            "name": f"sexto replay of {total} events to a file ({size_mb:.0f} MB, pseudonymised)",
            "unit": "events/s",
            "ours": replay_rate,
            "baseline": raw,
            "baseline_name": "plain ordered consumer, same run",
            "ratio": replay_rate / raw,
            "target": ">= 0.6x",
            "met": replay_rate / raw >= 0.6,
        },
        {
            "name": f"sexto verify --all over {total} events in {verified.cases} cases",
            "unit": "events/s",
            "ours": verify_rate,
            "baseline": raw,
            "baseline_name": "plain ordered consumer, same run",
            "ratio": verify_rate / raw,
            "target": "",
            "met": None,
        },
    ]
