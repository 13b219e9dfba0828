"""Opens the grids: on a reported case one per student, one more for an added student.

The process records its outcome on the case (GridsOpened), with an id derived from the
event that caused it, so running twice for one cause records it once.
"""

from __future__ import annotations

from sexto_events.commands import append_once
from sexto_events.db import DbConnection
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, NewEvent, RecordedEvent
from sexto_events.reactions import Reactor

from sexto_evaluation.domain.grids import grids_opened

SERVICE_ACTOR = "sexto-evaluation"


class GridOpener(Reactor):
    """Records GridsOpened on the case."""

    name = "opener"

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        opened = grids_opened(event.data)
        if opened is None:
            return
        recorded = NewEvent(
            opened,
            SERVICE_ACTOR,
            "service",
            correlation_id=event.envelope.correlationid,
            causation_id=event.id,
            event_id=derived_event_id(event.id, "grids-opened"),
            protocol_version=event.envelope.protocolversion,
        )
        case = CaseRef(event.envelope.territory, event.envelope.subject)
        await append_once(self.store, case, recorded)
