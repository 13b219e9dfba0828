"""The evaluation's read model: each case's scope and the state of its grids."""

from __future__ import annotations

import json

from sexto_events.catalogue.evaluation import (
    AssessmentMade,
    GridDraftSaved,
    GridsOpened,
    GridSubmitted,
)
from sexto_events.catalogue.intake import CaseReported
from sexto_events.consumer import ReadModel
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent

from sexto_evaluation.tables import CASES


class EvaluationCases(ReadModel):
    """Applies the events the evaluation needs to evaluation.cases."""

    name = "cases"
    tables = CASES

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        env, data = event.envelope, event.data
        if isinstance(data, CaseReported):
            await conn.execute(
                "INSERT INTO evaluation.cases (case_id, territory, school_id, protocol_version, "
                "version) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id) DO NOTHING",
                env.subject,
                env.territory,
                data.school_id,
                env.protocolversion or "",
                event.seq,
            )
            return
        if isinstance(data, GridsOpened):
            pending = json.dumps({ref: "pending" for ref in data.student_refs})
            await conn.execute(
                "UPDATE evaluation.cases SET grids = $2::jsonb || grids WHERE case_id = $1",
                env.subject,
                pending,
            )
        elif isinstance(data, GridDraftSaved):
            # A draft of an amendment leaves the complete grid in force: still "submitted".
            await conn.execute(
                "UPDATE evaluation.cases SET grids = grids || jsonb_build_object($2::text, "
                "CASE WHEN grids ->> $2 = 'submitted' THEN 'submitted' ELSE 'draft' END) "
                "WHERE case_id = $1",
                env.subject,
                data.student_ref,
            )
        elif isinstance(data, GridSubmitted):
            await conn.execute(
                "UPDATE evaluation.cases SET grids = grids || $2::jsonb WHERE case_id = $1",
                env.subject,
                json.dumps({data.student_ref: "submitted"}),
            )
        elif isinstance(data, AssessmentMade):
            await conn.execute(
                "UPDATE evaluation.cases SET recommendation = $2, urgency = $3 WHERE case_id = $1",
                env.subject,
                data.recommendation,
                data.urgency,
            )
        await conn.execute(
            "UPDATE evaluation.cases SET version = GREATEST(version, $2) WHERE case_id = $1",
            env.subject,
            event.seq,
        )
