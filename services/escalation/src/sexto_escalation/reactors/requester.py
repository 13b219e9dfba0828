"""Follows every assessment: requests police escalation when one first calls for it (once
per case), and records what each later assessment of an escalated case changes."""

from __future__ import annotations

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.evaluation import AssessmentMade
from sexto_events.commands import Decided, execute
from sexto_events.db import DbConnection
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, LoadedCase, NewEvent, RecordedEvent
from sexto_events.reactions import Reactor

from sexto_escalation.domain.police import escalation_request, reassessment
from sexto_escalation.domain.workflow import Escalation, evolve


class EscalationRequester(Reactor):
    """Records EscalationRequested, or EscalationUrgencyChanged, on the case."""

    name = "requester"

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        assessment = event.data
        if not isinstance(assessment, AssessmentMade):
            return

        def decide(state: Escalation, loaded: LoadedCase) -> Decided:
            latest = [e.id for e in loaded.events if isinstance(e.data, AssessmentMade)]
            if latest and latest[-1] != event.id:
                # An older assessment seen again (a redelivery, a reset): the newer one is
                # what stands; following this one would undo what that one recorded.
                return []
            data: EventData | None = escalation_request(state, assessment, event.id)
            if data is not None:
                # Derived from the case's first event: one request per case, even when two
                # assessments race to ask.
                event_id = derived_event_id(loaded.events[0].id, "escalation-requested")
            else:
                data = reassessment(state, assessment, event.id)
                if data is None:
                    return []
                # Derived from the assessment: each assessment is followed once.
                event_id = derived_event_id(event.id, "escalation-follows-assessment")
            new = NewEvent(
                data,
                "sexto-escalation",
                "service",
                correlation_id=event.envelope.correlationid,
                causation_id=event.id,
                event_id=event_id,
                protocol_version=event.envelope.protocolversion,
            )
            return [new]

        case = CaseRef(event.envelope.territory, event.envelope.subject)
        await execute(self.store, case, initial=Escalation(), evolve=evolve, decide=decide)
