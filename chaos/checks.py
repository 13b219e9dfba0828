"""After the storm: wait for the stack to converge, then hold the log, the effects, the
webhooks, the read models and the chains to account."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client
from sexto_devstack.nats_cluster import NatsCluster, wait_healthy
from sexto_devstack.run import SERVICES, Stack
from sexto_events.chain import verify_chain
from sexto_events.decode import parse_body
from sexto_events.model import CaseRef
from sexto_events.store import EventStore

from chaos.load import TERRITORY, Accepted
from chaos.receiver import CountingReceiver

QUIET_S = 5.0


@dataclass
class Findings:
    """What the checks found; `lost` and `duplicated` fail the run."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    broken_chains: list[str] = field(default_factory=list)
    read_model_drift: list[str] = field(default_factory=list)
    webhooks_missing: int = 0
    webhooks_resent: int = 0
    events_in_log: int = 0

    def failed(self) -> bool:
        """Anything lost, done twice, unverifiable or drifting."""
        return bool(self.lost or self.duplicated or self.broken_chains or self.read_model_drift
                    or self.webhooks_missing)  # fmt: skip


async def consumers_settled(nc: Client) -> bool:
    """Every durable consumer of every stream has nothing pending and nothing unacknowledged."""
    for stream in ("CASES", "DIRECTORY"):
        names = json.loads((await nc.request(f"$JS.API.CONSUMER.NAMES.{stream}", b"{}", 5)).data)
        for name in names.get("consumers") or []:
            info = json.loads(
                (await nc.request(f"$JS.API.CONSUMER.INFO.{stream}.{name}", b"", 5)).data
            )
            if info.get("num_pending", 1) or info.get("num_ack_pending", 1):
                return False
    return True


async def deliveries_pending(dsn: str) -> int:
    """Webhooks and e-mails notification still has to make (or to retry)."""
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM notification.deliveries WHERE status = 'pending'"))  # fmt: skip
    finally:
        await conn.close()


async def converge(
    stack: Stack, nc: Client, receiver: CountingReceiver, limit_s: float
) -> float | None:
    """Seconds until every node is healthy, every consumer settled, no delivery pending and
    the webhooks quiet; None if that did not happen within `limit_s`."""
    start = time.monotonic()
    assert isinstance(stack.nats, NatsCluster)
    for node in stack.nats.nodes:
        await asyncio.to_thread(wait_healthy, node)
    last, quiet_since = receiver.total(), time.monotonic()
    while True:
        stack.supervisor.check()
        if time.monotonic() - start > limit_s:
            return None
        try:
            settled = await consumers_settled(nc)
        except Exception:
            settled = False
        if receiver.total() != last:
            last, quiet_since = receiver.total(), time.monotonic()
        if settled:
            settled = await deliveries_pending(stack.database_url) == 0
        if settled and time.monotonic() - quiet_since >= QUIET_S:
            return time.monotonic() - start - QUIET_S
        await asyncio.sleep(0.5)


def sent_under_several_ids(event_of: Mapping[str, str]) -> list[str]:
    """Events one subscription's receiver got under more than one `webhook-id` (`event_of`
    maps each webhook-id to its event): each is an event sent twice as two deliveries,
    which a partner de-duplicating by webhook-id would act on twice."""
    ids_of: defaultdict[str, set[str]] = defaultdict(set)
    for webhook_id, event_id in event_of.items():
        if event_id:
            ids_of[event_id].add(webhook_id)
    return [
        f"event {event_id}: webhook x{len(ids)} under distinct webhook-ids"
        for event_id, ids in sorted(ids_of.items())
        if len(ids) > 1
    ]


def _count(types: list[str], suffix: str) -> int:
    return sum(1 for t in types if t.startswith(f"org.sexto.{suffix}.v"))


async def check_log(
    store: EventStore, accepted: Accepted, receiver: CountingReceiver, found: Findings
) -> None:
    """Every 2xx write once in the log, every effect once, every chain whole, every
    escalation event delivered to the webhook."""
    grids = Counter(accepted.grids)
    acknowledged = set(accepted.acknowledgements)
    delivered = set(receiver.snapshot().values())
    for case_id in accepted.reports:
        raw = await store.read_raw(CaseRef(TERRITORY, case_id))
        envelopes = [parse_body(m.body) for m in raw]
        found.events_in_log += len(raw)
        types = [str(e["type"]) for e in envelopes]
        report = verify_chain(envelopes, [m.body for m in raw])
        if not report.ok:
            found.broken_chains.append(f"{case_id}: {report.reason}")
        reported = _count(types, "intake.case_reported")
        if reported != 1:
            (found.lost if reported == 0 else found.duplicated).append(
                f"{case_id}: report x{reported}"
            )
        submitted = Counter(
            e["data"].get("student_ref") for e in envelopes
            if str(e["type"]).startswith("org.sexto.evaluation.grid_submitted.")
        )  # fmt: skip
        for (case, ref), times in grids.items():
            if case == case_id and submitted[ref] != times:
                where = found.lost if submitted[ref] < times else found.duplicated
                where.append(f"{case_id}: grid {ref} x{submitted[ref]}, accepted x{times}")
        acks = _count(types, "escalation.acknowledged")
        if case_id in acknowledged and acks != 1:
            (found.lost if acks == 0 else found.duplicated).append(f"{case_id}: ack x{acks}")
        assessments = _count(types, "evaluation.assessment_made")
        if assessments > 1:  # one grid set, one assessment
            found.duplicated.append(f"{case_id}: {assessments} assessments")
        requests = [e["data"].get("assessment_event_id") for e in envelopes
                    if str(e["type"]).startswith("org.sexto.escalation.requested.")]  # fmt: skip
        if len(requests) != len(set(requests)) or len(requests) > 1:
            found.duplicated.append(f"{case_id}: {len(requests)} escalation requests")
        for envelope in envelopes:
            if str(envelope["type"]).startswith("org.sexto.escalation.") and (
                envelope["id"] not in delivered
            ):
                found.webhooks_missing += 1
    found.webhooks_resent = sum(n - 1 for n in receiver.arrivals.values())
    # The one receiver is the one subscription: an event is one delivery, one webhook-id.
    found.duplicated.extend(sent_under_several_ids(receiver.snapshot()))


READ_ONLY = ("alembic", "idempotency", "consumer", "dead_letter", "checkpoint")


async def dump(dsn: str) -> dict[str, list[str]]:
    """Every read table of every service, rows sorted, as text."""
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for schema in SERVICES:
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
                "AND table_type = 'BASE TABLE'",
                schema,
            )
            for row in tables:
                name = row["table_name"]
                if any(part in name for part in READ_ONLY):
                    continue
                rows = await conn.fetch(f'SELECT * FROM "{schema}"."{name}"')
                out[f"{schema}.{name}"] = sorted(repr(tuple(r.values())) for r in rows)
        return out
    finally:
        await conn.close()


def rebuild_all(data_dir: Path) -> None:
    """`sexto rebuild` of every service (stopped), through the command line."""
    sexto = str(Path(sys.executable).parent / "sexto")
    for service in SERVICES:
        subprocess.run(
            [sexto, "--role", "admin", "rebuild", service],
            env={**os.environ, "SEXTO_DATA_DIR": str(data_dir)},
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip


async def check_read_models(stack: Stack, found: Findings) -> None:
    """Stop the services, rebuild every read model from the stream, compare the tables."""
    stack.supervisor.stop_all()
    before = await dump(stack.database_url)
    await asyncio.to_thread(rebuild_all, stack.plan.data_dir)
    after = await dump(stack.database_url)
    for table in sorted(set(before) | set(after)):
        if before.get(table) != after.get(table):
            old, new = before.get(table, []), after.get(table, [])
            found.read_model_drift.append(
                f"{table}: {len(old)} rows live, {len(new)} rebuilt, "
                f"{len(set(old) ^ set(new))} differ"
            )


def summary_of(sent: int, accepted: Accepted, kills: Counter[str], seconds: float | None,
               found: Findings) -> str:  # fmt: skip
    """The one line the run ends with."""
    total_kills = sum(v for k, v in kills.items() if ":" not in k)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(kills.items()) if ":" not in k)
    return (
        f"chaos: {sent} sent, {len(accepted.reports)} accepted, lost {len(found.lost)}, "
        f"duplicated {len(found.duplicated)}, kills {total_kills} ({kinds}), "
        + ("NOT converged" if seconds is None else f"converged in {seconds:.0f} s")
    )


def details(found: Findings, accepted: Accepted) -> dict[str, Any]:
    """Everything else the run measured, for its report file."""
    return {
        "events_in_log": found.events_in_log,
        "grids_accepted": len(accepted.grids),
        "acknowledgements_accepted": len(accepted.acknowledgements),
        "abandoned": accepted.abandoned,
        "refused": accepted.refused[:20],
        "statuses": dict(accepted.statuses),
        "lost": found.lost[:20],
        "duplicated": found.duplicated[:20],
        "broken_chains": found.broken_chains[:20],
        "read_model_drift": found.read_model_drift,
        "webhooks_missing": found.webhooks_missing,
        "webhooks_resent_same_id": found.webhooks_resent,
    }
