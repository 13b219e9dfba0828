"""Replay to a file and `verify --all` over 1 million events, beside a plain ordered consumer."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import uuid_utils
from nats.aio.client import Client
from sexto_devstack.procs import environ
from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationRequested,
    KitCollected,
    ProsecutorDecided,
    SealCheck,
)
from sexto_events.catalogue.intake import CaseClosed, DeviceSecured
from sexto_events.chain import seal_body
from sexto_events.disclosure import Pseudonymiser, Viewer
from sexto_events.envelope import DATA_CONTENT_TYPE, SPEC_VERSION, format_time
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.personal import seal_value, subjects_of, walk_personal
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_legal.analytics.export import export_analytics
from sexto_legal.replay import ReplayFilter, replay_to_file
from sexto_legal.verification import verify_log
from sexto_service.auth.issuer import ensure_key

from bench.fixtures import fresh_cases, note_event, read_event
from bench.load import stream_size
from bench.replay import raw_ordered_rate
from bench.rows import cpu_per_10k, heap_frozen, row, run_peak_rss_mb
from tests.support.events import reported

T = TypeVar("T")
PER_CASE = 50
# Where a case's fixed steps fall among its 49 events after the report; the rest alternate
# sealed notes and audit reads, so about half of all events carry sealed personal data.
FIXED_AT = (2, 9, 17, 31, 48)


def case_events() -> list[NewEvent]:
    """The 49 events after a case's report: custody, escalation, a decision with sealed
    reasons, closure, and sealed notes alternating with reads (all invented)."""
    fixed = [
        NewEvent(DeviceSecured(owner_ref="stu-1", measure="switched_off", seal_number="SB-0042"),
                 "intervener-7", "intervener"),
        NewEvent(EscalationRequested(
            school_id="school-042", protocol="sexto-qc", urgency="high",
            students=[EscalatedStudent(student_ref="stu-1", roles=["depicted"],
                                       indication="impulsive")],
            seal_numbers=["SB-0042"], intervener_ref="intervener-7",
            assessment_event_id="01933b6c-0000-7000-8000-000000000001"),
            "sexto-escalation", "service"),
        NewEvent(KitCollected(officer_ref="po-12",
                              seals=[SealCheck(seal_number="SB-0042", intact=True)],
                              missing_seals=[], unexpected_seals=[], flagged=False),
                 "po-12", "police_officer"),
        NewEvent(ProsecutorDecided(student_ref="stu-1", decision="impulsive",
                                   reasons="first incident, consensual exchange (invented)",
                                   follow_up="educational_meeting_required"),
                 "dpcp-3", "prosecutor"),
        NewEvent(CaseClosed(resolution="educational_path_completed"), "iv-7", "intervener"),
    ]  # fmt: skip
    steps = iter(fixed)
    out = []
    for i in range(PER_CASE - 1):
        if i in FIXED_AT:
            out.append(next(steps))
        elif i % 2:
            out.append(note_event())
        else:
            out.append(read_event())
    return out


def chained(
    case: CaseRef, event: NewEvent, prevhash: str, keys: dict[str, bytes]
) -> tuple[str, bytes]:
    """(hash, body) of `event` chained after `prevhash`, built and sealed as the store does
    (keys fetched beforehand, so seeding is not one key lookup per event)."""
    cls = type(event.data)
    event_id = str(uuid_utils.uuid7())
    data = event.data.model_dump(mode="json")
    if subjects_of(cls, data, case.case_id):

        def seal(value: Any, subject: str, _where: str) -> Any:
            return seal_value(keys[subject], subject, event_id, str(value))

        data = walk_personal(cls, data, case.case_id, seal)
    envelope = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": "sexto/bench",
        "type": cls.type_name(),
        "subject": case.case_id,
        "time": format_time(datetime.now(UTC)),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": data,
        "territory": case.territory,
        "actor": event.actor,
        "actorrole": event.actor_role,
        "correlationid": event_id,
        "causationid": event_id,
        "prevhash": prevhash,
    }
    return seal_body(envelope)


async def seed(nc_raw: Client, store: EventStore, total: int) -> int:
    """`total` real, chained events: a sealed report per case through the store, then the
    case's other events (about half sealed) chained and sealed by hand and published
    pipelined (cases interleaved, each in order)."""
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
    assert store.codec is not None
    keys: dict[str, bytes] = {}
    for start in range(0, len(cases), 2000):
        subjects = [f"{kind}:{c.case_id}{ref}" for c in cases[start : start + 2000]
                    for kind, ref in (("case", ""), ("student", ":stu-1"))]  # fmt: skip
        keys |= (await store.codec.vault.keys_for_writing(subjects))[0]
    js = nc_raw.jetstream(publish_async_max_pending=8192)
    for event in case_events():
        suffix = type(event.data).subject_suffix()
        for case in cases:
            heads[case], body = chained(case, event, heads[case], keys)
            await js.publish_async(f"cases.{case.territory}.{case.case_id}.{suffix}", body)
    await asyncio.wait_for(js.publish_async_completed(), 600)
    # The seeded case verifies and opens as any other: the store loads it (chain, keys).
    loaded = await store.load(cases[0])
    assert len(loaded.events) == PER_CASE
    assert any(isinstance(e.data, ProsecutorDecided) for e in loaded.events)
    return await stream_size(nc_raw)


def _rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def peak_growth_mb(work: Awaitable[T]) -> tuple[T, float]:
    """`work`'s result and how far the resident memory rose above its start while it ran
    (sampled every 50 ms)."""
    base = peak = _rss_mb()
    task = asyncio.ensure_future(work)
    while not task.done():
        peak = max(peak, _rss_mb())
        await asyncio.wait({task}, timeout=0.05)
    return task.result(), max(peak, _rss_mb()) - base


async def replay_peak_rss(
    nats_url: str, dsn: str, folder: Path, master_key: bytes, since: int | None
) -> float:
    """Peak RSS (MB) of `sexto replay` as an analyst, in a process of its own: the whole log,
    or only from `since` (the fixed cost of the same command)."""
    out = folder / "replay-rss.jsonl"
    env = environ(
        SEXTO_ENVIRONMENT="test", SEXTO_NATS_URL=nats_url, SEXTO_DATABASE_URL=dsn,
        SEXTO_MASTER_KEY=base64.b64encode(master_key).decode(),
        SEXTO_AUTH_LOCAL_KEY_FILE=str(folder / "issuer-replay" / "ed25519.pem"),
    )  # fmt: skip
    args = [str(Path(sys.executable).with_name("sexto")), "--role", "analyst", "--as",
            "analyst-bench", "replay", "--out", str(out),
            *(["--since", str(since)] if since else [])]  # fmt: skip
    log = folder / "replay-rss.log"
    code, peak = await asyncio.to_thread(run_peak_rss_mb, args, env, log)
    out.unlink(missing_ok=True)
    if code != 0:
        raise RuntimeError(f"sexto replay failed ({code}): see {log}")
    return peak


async def run(
    nc_raw: Client, nc: Client, store: EventStore, folder: Path, master_key: bytes,
    nats_url: str, dsn: str,
) -> list[dict[str, Any]]:  # fmt: skip
    """Replay to a file (analyst: pseudonymised), the analytics export of the same events
    and verify --all, beside the raw rate."""
    total = await stream_size(nc)
    with heap_frozen():
        started = time.process_time()
        raw = await raw_ordered_rate(nc_raw, "cases.>", total)
        raw_cpu = time.process_time() - started
        out = folder / "replay.jsonl"
        viewer = Viewer(Role.ANALYST, Pseudonymiser(master_key))
        start, started = time.perf_counter(), time.process_time()
        summary, replay_mb = await peak_growth_mb(replay_to_file(
            nc, store.spec, out, selection=ReplayFilter(), viewer=viewer, decoder=store.decoder,
        ))  # fmt: skip
        replay_rate = summary.events / (time.perf_counter() - start)
        replay_cpu = time.process_time() - started
        analytics = folder / "analytics"
        start = time.perf_counter()
        exported, export_mb = await peak_growth_mb(export_analytics(nc, store, analytics,
                                                                    viewer=viewer))  # fmt: skip
        export_rate = total / (time.perf_counter() - start)
        assert exported.record is not None
        assert exported.record.events == total, (exported.record.events, total)
        parquet_mb = sum(p.stat().st_size for p in analytics.rglob("*.parquet")) / 1e6
        shutil.rmtree(analytics)
        size_mb = out.stat().st_size / 1e6
        out.unlink()
        assert summary.events == total, (summary.events, total)
        start = time.perf_counter()
        verified = await verify_log(nc, store.spec)
        verify_rate = verified.events / (time.perf_counter() - start)
        assert verified.ok
        assert verified.events == total
    ensure_key(folder / "issuer-replay" / "ed25519.pem")
    whole = await replay_peak_rss(nats_url, dsn, folder, master_key, None)
    tail = await replay_peak_rss(nats_url, dsn, folder, master_key, max(total - 100, 1))
    return [
        row(
            f"peak RSS of sexto replay over {total} events",
            "MB",
            whole,
            tail,
            "sexto replay of the last 100 events, same run",
            lower_is_better=True,
            at_least=0.5,
        ),
        {
            "name": f"sexto replay of {total} events (about half sealed) to a file "
            f"({size_mb:.0f} MB, pseudonymised)",
            "unit": "events/s",
            "ours": replay_rate,
            "baseline": raw,
            "baseline_name": "plain ordered consumer, same run",
            "ratio": replay_rate / raw,
            "target": ">= 0.6x",
            "met": replay_rate / raw >= 0.6,
            "cpu_s_per_10k_events": cpu_per_10k(replay_cpu, total),
            "baseline_cpu_s_per_10k_events": cpu_per_10k(raw_cpu, total),
        },
        {
            "name": f"sexto export-analytics of the same {total} events ({parquet_mb:.0f} MB "
            f"Parquet, {exported.record.cases} cases)",
            "unit": "events/s",
            "ours": export_rate,
            "baseline": replay_rate,
            "baseline_name": "sexto replay of the same events, same run",
            "ratio": export_rate / replay_rate,
            "target": ">= 0.5x",
            "met": export_rate / replay_rate >= 0.5,
        },
        {
            "name": f"export-analytics of {total} events: memory growth (peak RSS)",
            "unit": "MB",
            "ours": export_mb,
            "baseline": max(replay_mb, 1.0),
            "baseline_name": "sexto replay's growth (streams to a file)",
            "ratio": export_mb / max(replay_mb, 1.0),
            "target": "",
            "met": None,
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
