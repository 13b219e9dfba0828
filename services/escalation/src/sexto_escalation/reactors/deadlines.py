"""Deadlines: one overdue event per breach, re-armed from the log after a restart.

The watcher keeps no state of its own: each round reads the queue (a read model rebuilt
from the log) and records a breach with an id derived from the escalation request and the
step, so a breach already on the record is never recorded twice, whatever restarts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sexto_events.catalogue.escalation import EscalationOverdue
from sexto_events.commands import append_once
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, NewEvent
from sexto_service.runtime import ServiceRuntime

from sexto_escalation.config import EscalationSettings
from sexto_escalation.domain.deadlines import breaches

log = structlog.get_logger("sexto.escalation.deadlines")


async def check_once(runtime: ServiceRuntime, settings: EscalationSettings) -> int:
    """Record every breach not yet recorded; returns how many were recorded now."""
    now = datetime.now(UTC)
    recorded = 0
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT case_id, territory, urgency, status, requested_at, request_event_id, "
            "overdue FROM escalation.escalations WHERE status IN ('requested', 'acknowledged')"
        )
    limits = {
        "acknowledge": settings.acknowledge_within_s,
        "collect_kit": settings.collect_kit_within_s,
    }
    for row in rows:
        found = breaches(
            status=row["status"],
            urgency=row["urgency"],
            requested_at=row["requested_at"],
            recorded=row["overdue"],
            limits=limits,
            now=now,
        )
        case = CaseRef(row["territory"], row["case_id"])
        for breach in found:
            if await _record(runtime, case, breach, row["request_event_id"]):
                recorded += 1
    return recorded


async def _record(
    runtime: ServiceRuntime, case: CaseRef, breach: EscalationOverdue, request_id: str
) -> bool:
    event_id = derived_event_id(request_id, f"overdue-{breach.step}")
    event = NewEvent(
        breach, "sexto-escalation", "service", causation_id=request_id, event_id=event_id
    )
    if not await append_once(runtime.store, case, event):
        return False  # on the record already (an earlier round, another replica)
    log.warning("escalation overdue", case_id=case.case_id, step=breach.step)
    return True


async def watch(runtime: ServiceRuntime, settings: EscalationSettings) -> None:
    """Check the deadlines every few seconds until cancelled."""
    while True:
        try:
            await check_once(runtime, settings)
        except Exception as exc:
            log.error("deadline check failed", error_type=type(exc).__name__)
        await asyncio.sleep(settings.check_every_s)
