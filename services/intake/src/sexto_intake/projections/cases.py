"""The case read model: current state of each case, no personal data."""

from __future__ import annotations

import json

from sexto_events.catalogue.escalation import EscalationRequested
from sexto_events.catalogue.intake import (
    CaseClosed,
    CaseReported,
    PriorInvolvementNoted,
    StudentAdded,
    StudentRoleChanged,
)
from sexto_events.consumer import ReadModel
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent
from sexto_protocols import lifecycle

from sexto_intake.domain.cases import students_summary
from sexto_intake.tables import CASES


class CasesProjection(ReadModel):
    """Applies case events to intake.cases."""

    name = "cases"
    tables = CASES

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        env, data = event.envelope, event.data
        if isinstance(data, CaseReported):
            await conn.execute(
                "INSERT INTO intake.cases (case_id, territory, school_id, protocol, status, "
                "discovered_at, reported_at, reported_by, students, version, lifecycle) "
                "VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8::jsonb, $9, $10::jsonb) "
                "ON CONFLICT (case_id) DO NOTHING",
                env.subject,
                env.territory,
                data.school_id,
                data.protocol.value,
                data.discovered_at,
                env.time_dt,
                env.actor,
                json.dumps(students_summary(data.students)),
                event.seq,
                # The reported students are the lifecycle's first facts.
                json.dumps(lifecycle.evolve(lifecycle.CaseLifecycle(), data).to_json()),
            )
            return
        if isinstance(data, StudentAdded):
            await conn.execute(
                "UPDATE intake.cases SET students = students || $2::jsonb WHERE case_id = $1",
                env.subject,
                json.dumps(students_summary([data.student])),
            )
        elif isinstance(data, StudentRoleChanged):
            await conn.execute(
                "UPDATE intake.cases SET students = (SELECT jsonb_agg(CASE WHEN "
                "s->>'student_ref' = $2 THEN jsonb_set(s, '{roles}', $3::jsonb) ELSE s END "
                "ORDER BY n) FROM jsonb_array_elements(students) WITH ORDINALITY AS t(s, n)) "
                "WHERE case_id = $1",
                env.subject,
                data.student_ref,
                json.dumps([role.value for role in data.roles]),
            )
        elif isinstance(data, PriorInvolvementNoted):
            # The warning for the intervener: how many earlier cases, never which.
            await conn.execute(
                "UPDATE intake.cases SET students = (SELECT jsonb_agg(CASE WHEN "
                "s->>'student_ref' = $2 THEN jsonb_set(s, '{earlier_cases}', $3::jsonb) "
                "ELSE s END ORDER BY n) FROM jsonb_array_elements(students) "
                "WITH ORDINALITY AS t(s, n)) WHERE case_id = $1",
                env.subject,
                data.student_ref,
                json.dumps(data.earlier_cases),
            )
        elif isinstance(data, EscalationRequested):
            # Police see a case in their territory once it is escalated.
            await conn.execute(
                "UPDATE intake.cases SET escalated = true WHERE case_id = $1", env.subject
            )
        elif isinstance(data, CaseClosed):
            await conn.execute(
                "UPDATE intake.cases SET status = 'closed' WHERE case_id = $1", env.subject
            )
        await conn.execute(
            "UPDATE intake.cases SET version = GREATEST(version, $2) WHERE case_id = $1",
            env.subject,
            event.seq,
        )
        if lifecycle.follows(data):
            await self._lifecycle(event, conn)

    async def _lifecycle(self, event: RecordedEvent, conn: DbConnection) -> None:
        """Move the case's lifecycle by this event (the same fold as the escalation queue's)."""
        stored = await conn.fetchval(
            "SELECT lifecycle FROM intake.cases WHERE case_id = $1", event.envelope.subject
        )
        if stored is None:
            return  # no report on the record for this case
        kept = json.loads(stored)
        before = lifecycle.CaseLifecycle.from_json(kept) if kept else lifecycle.CaseLifecycle()
        after = lifecycle.evolve(before, event.data)
        if after != before:
            await conn.execute(
                "UPDATE intake.cases SET lifecycle = $2::jsonb WHERE case_id = $1",
                event.envelope.subject,
                json.dumps(after.to_json()),
            )
