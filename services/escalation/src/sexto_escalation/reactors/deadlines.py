"""Deadlines: one overdue event per breach, re-armed from the log after a restart.

The watcher keeps no state of its own: each round finds the escalations still waiting in
the queue (a read model rebuilt from the log), then decides on each case's own events
through the command path — a step taken just now, not yet in the queue, is no breach —
and records a breach with an id derived from the escalation request and the step, so a
breach already on the record is never recorded twice, whatever restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from sexto_events.commands import execute
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, NewEvent
from sexto_protocols.lifecycle import CaseLifecycle, Status
from sexto_service.runtime import ServiceRuntime
from sexto_service.telemetry import untraced

from sexto_escalation.config import EscalationSettings
from sexto_escalation.domain.deadlines import WATCHED_STATUSES, breaches
from sexto_escalation.domain.workflow import Escalation, evolve

log = structlog.get_logger("sexto.escalation.deadlines")


async def check_once(runtime: ServiceRuntime, settings: EscalationSettings) -> int:
    """Record every breach not yet recorded; returns how many were recorded now."""
    now = datetime.now(UTC)
    with untraced():  # the periodic scan is no part of a case; a breach recorded is
        async with runtime.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT case_id, territory, status, most_urgent, requested_at, overdue "
                "FROM escalation.escalations WHERE status = ANY($1)",
                WATCHED_STATUSES,
            )
    limits = {
        "acknowledge": settings.acknowledge_within_s,
        "collect_kit": settings.collect_kit_within_s,
    }
    recorded = 0
    for row in rows:
        if not breaches(as_queued(dict(row)), limits=limits, now=now):
            continue  # nothing due by the queue: no need to read the case
        # A candidate: the breach is decided on the case's own events.
        case = CaseRef(row["territory"], row["case_id"])
        try:
            result = await execute(
                runtime.store,
                case,
                initial=Escalation(),
                evolve=evolve,
                decide=lambda state, _: overdue_events(state, limits=limits, now=now),
            )
        except Exception as exc:  # one case's trouble (a broken chain) stops no other's
            log.error("deadline check failed", case_id=case.case_id, error_type=type(exc).__name__)
            continue
        for event_id in result.event_ids:
            log.warning("escalation overdue", case_id=case.case_id, event_id=event_id)
        recorded += len(result.event_ids)
    return recorded


def as_queued(row: Mapping[str, Any]) -> Escalation:
    """An escalation as the queue shows it: enough to tell whether a breach may be due.

    Armed at the request with the most urgent urgency the case ever had: never later than
    the case's real deadlines, so no candidate is missed (the case's events decide).
    """
    return Escalation(
        case=CaseLifecycle(
            requested=True,
            acknowledged=row["status"] != Status.REQUESTED,
            kit_collected=row["status"] not in WATCHED_STATUSES,
        ),
        urgency=row["most_urgent"],
        requested_at=row["requested_at"],
        arms=((row["requested_at"], row["most_urgent"]),),
        overdue=frozenset(row["overdue"]),
    )


def overdue_events(
    state: Escalation, *, limits: Mapping[str, Mapping[str, float]], now: datetime
) -> list[NewEvent]:
    """One event per breach, its id derived from the request and the step: a breach that
    another replica records at the same moment is recorded once."""
    request_id = state.request_event_id
    return [
        NewEvent(
            breach,
            "sexto-escalation",
            "service",
            causation_id=request_id,
            event_id=derived_event_id(request_id, f"overdue-{breach.step}"),
        )
        for breach in breaches(state, limits=limits, now=now)
    ]


async def watch(runtime: ServiceRuntime, settings: EscalationSettings) -> None:
    """Check the deadlines every few seconds until cancelled."""
    while True:
        try:
            await check_once(runtime, settings)
        except Exception as exc:
            log.error("deadline check failed", error_type=type(exc).__name__)
        await asyncio.sleep(settings.check_every_s)
