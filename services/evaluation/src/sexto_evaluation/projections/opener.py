"""Opens the grids: on a reported case one per student, one more for an added student.

The process records its outcome on the case (GridsOpened), with an id derived from the
event that caused it, so running twice for one cause records it once.
"""

from __future__ import annotations

from sexto_events.catalogue.evaluation import GridsOpened
from sexto_events.catalogue.intake import CaseReported, StudentAdded
from sexto_events.db import DbConnection
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, NewEvent, RecordedEvent
from sexto_events.reactions import Reactor, append_once

SERVICE_ACTOR = "sexto-evaluation"


class GridOpener(Reactor):
    """Records GridsOpened on the case."""

    name = "opener"

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if isinstance(data, CaseReported):
            refs = [s.student_ref for s in data.students]
        elif isinstance(data, StudentAdded):
            refs = [data.student.student_ref]
        else:
            return
        opened = NewEvent(
            GridsOpened(student_refs=refs),
            SERVICE_ACTOR,
            "service",
            correlation_id=event.envelope.correlationid,
            causation_id=event.id,
            event_id=derived_event_id(event.id, "grids-opened"),
            protocol_version=event.envelope.protocolversion,
        )
        case = CaseRef(event.envelope.territory, event.envelope.subject)
        await append_once(self.store, case, opened)
