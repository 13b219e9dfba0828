"""Opens the grids: on a reported case one per student, one more for an added student.

The process records its outcome on the case (GridsOpened), with an id derived from the
event that caused it, so running twice for one cause records it once.
"""

from __future__ import annotations

from sexto_events.catalogue.evaluation import GridsOpened
from sexto_events.catalogue.intake import CaseReported, StudentAdded
from sexto_events.db import DbConnection
from sexto_events.errors import ConcurrencyConflict
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, NewEvent, RecordedEvent
from sexto_events.store import EventStore

SERVICE_ACTOR = "sexto-evaluation"


class GridOpener:
    """A reactor: its effect is an event on the case, not a table."""

    name = "opener"

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def migrate(self, conn: DbConnection) -> None:
        """No table of its own."""

    async def drop(self, conn: DbConnection) -> None:
        """No table of its own."""

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if isinstance(data, CaseReported):
            refs = [s.student_ref for s in data.students]
        elif isinstance(data, StudentAdded):
            refs = [data.student.student_ref]
        else:
            return
        case = CaseRef(event.envelope.territory, event.envelope.subject)
        opened = NewEvent(
            GridsOpened(student_refs=refs),
            SERVICE_ACTOR,
            "service",
            correlation_id=event.envelope.correlationid,
            causation_id=event.id,
            event_id=derived_event_id(event.id, "grids-opened"),
            protocol_version=event.envelope.protocolversion,
        )
        for _ in range(5):
            loaded = await self.store.load(case)
            if any(e.id == opened.event_id for e in loaded.events):
                return  # recorded by an earlier delivery
            try:
                await self.store.append(case, [opened], loaded.version)
                return
            except ConcurrencyConflict:
                continue
        raise ConcurrencyConflict(str(case), loaded.version.seq, None)
