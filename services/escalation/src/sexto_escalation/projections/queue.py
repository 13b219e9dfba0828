"""The police queue: escalated cases by territory, status and urgency; and the custody log.

The status is the lifecycle's word (sexto_protocols.lifecycle.status), derived from the
case's lifecycle kept beside its scope and moved by the same pure `evolve` the services
decide with: the queue never says anything the state machine does not.
"""

from __future__ import annotations

import json

from sexto_events.catalogue.escalation import (
    EscalationOverdue,
    EscalationRequested,
    EscalationUrgencyChanged,
    KitCollected,
)
from sexto_events.catalogue.intake import CaseReported, DeviceSecured
from sexto_events.consumer import ReadModel
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent
from sexto_protocols import lifecycle

from sexto_escalation.domain.police import URGENCY_RANK
from sexto_escalation.tables import QUEUE


class PoliceQueue(ReadModel):
    """Applies the escalation events (and the custody facts) to the escalation schema."""

    name = "queue"
    tables = QUEUE

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        await self._facts(event, conn)
        if lifecycle.follows(event.data):
            await self._lifecycle(event, conn)

    async def _lifecycle(self, event: RecordedEvent, conn: DbConnection) -> None:
        """Move the case's lifecycle by this event; the queue row takes its status."""
        env = event.envelope
        stored = await conn.fetchval(
            "SELECT lifecycle FROM escalation.case_scope WHERE case_id = $1", env.subject
        )
        if stored is None:
            return  # a case whose report this read model never saw (none in a whole log)
        kept = json.loads(stored)
        before = lifecycle.CaseLifecycle.from_json(kept) if kept else lifecycle.CaseLifecycle()
        after = lifecycle.evolve(before, event.data)
        if after == before:
            return
        await conn.execute(
            "UPDATE escalation.case_scope SET lifecycle = $2::jsonb WHERE case_id = $1",
            env.subject,
            json.dumps(after.to_json()),
        )
        await conn.execute(
            "UPDATE escalation.escalations SET status = $2, version = $3 WHERE case_id = $1",
            env.subject,
            lifecycle.status(after).value,
            event.seq,
        )

    async def _facts(self, event: RecordedEvent, conn: DbConnection) -> None:
        env, data = event.envelope, event.data
        if isinstance(data, CaseReported):
            await conn.execute(
                "INSERT INTO escalation.case_scope (case_id, territory, school_id) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                env.subject,
                env.territory,
                data.school_id,
            )
        elif isinstance(data, DeviceSecured) and data.seal_number:
            await conn.execute(
                "INSERT INTO escalation.custody (case_id, seal_number, secured_by, secured_at, "
                "seal_state) VALUES ($1, $2, $3, $4, 'sealed_at_school') ON CONFLICT DO NOTHING",
                env.subject,
                data.seal_number,
                # A bag recorded late: who secured it and when, not who recorded it.
                data.late.secured_by if data.late else env.actor,
                data.late.secured_at if data.late else env.time_dt,
            )
        elif isinstance(data, EscalationRequested):
            await conn.execute(
                "INSERT INTO escalation.escalations (case_id, territory, school_id, urgency, "
                "most_urgent, status, requested_at, request_event_id, version) "
                "VALUES ($1, $2, $3, $4, $4, 'requested', $5, $6, $7) "
                "ON CONFLICT (case_id) DO NOTHING",
                env.subject,
                env.territory,
                data.school_id,
                data.urgency,
                env.time_dt,
                event.id,
                event.seq,
            )
        elif isinstance(data, EscalationOverdue):
            await conn.execute(
                "UPDATE escalation.escalations SET overdue = array_append(overdue, $2) "
                "WHERE case_id = $1 AND NOT ($2 = ANY(overdue))",
                env.subject,
                data.step,
            )
        elif isinstance(data, EscalationUrgencyChanged):
            # Re-orders the queue; the most urgent urgency ever set arms the deadlines.
            await conn.execute(
                "UPDATE escalation.escalations SET urgency = $2, version = $4, most_urgent = "
                "CASE WHEN $3 > (CASE most_urgent WHEN 'urgent' THEN 2 WHEN 'high' THEN 1 "
                "ELSE 0 END) THEN $2 ELSE most_urgent END WHERE case_id = $1",
                env.subject,
                data.urgency,
                URGENCY_RANK[data.urgency],
                event.seq,
            )
        elif isinstance(data, KitCollected):
            await self._handover(conn, event, data)

    async def _handover(self, conn: DbConnection, event: RecordedEvent, data: KitCollected) -> None:
        env = event.envelope
        await conn.execute(
            "UPDATE escalation.escalations SET flagged = $2 WHERE case_id = $1",
            env.subject,
            data.flagged,
        )
        for seal in data.seals:
            state = "intact" if seal.intact else "broken"
            if seal.seal_number in data.unexpected_seals:
                state = f"{state}; never recorded as secured at the school"
            await conn.execute(
                "INSERT INTO escalation.custody (case_id, seal_number, handed_to, handed_at, "
                "seal_state) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, seal_number) "
                "DO UPDATE SET handed_to = excluded.handed_to, handed_at = excluded.handed_at, "
                "seal_state = excluded.seal_state",
                env.subject,
                seal.seal_number,
                data.officer_ref,
                env.time_dt,
                state,
            )
        for missing in data.missing_seals:
            await conn.execute(
                "UPDATE escalation.custody SET seal_state = 'missing at collection' "
                "WHERE case_id = $1 AND seal_number = $2",
                env.subject,
                missing,
            )
