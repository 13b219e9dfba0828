"""Requests police escalation when an assessment calls for it (once per case)."""

from __future__ import annotations

from sexto_events.catalogue.evaluation import AssessmentMade
from sexto_events.commands import Decided, execute
from sexto_events.db import DbConnection
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, LoadedCase, NewEvent, RecordedEvent
from sexto_events.reactions import Reactor

from sexto_escalation.domain.police import calls_for_police, escalation_request
from sexto_escalation.domain.workflow import Escalation, evolve


class EscalationRequester(Reactor):
    """Records EscalationRequested on the case."""

    name = "requester"

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        assessment = event.data
        if not isinstance(assessment, AssessmentMade) or not calls_for_police(assessment):
            return  # a school-managed case never escalates

        def decide(state: Escalation, loaded: LoadedCase) -> Decided:
            request = escalation_request(state, assessment, event.id)
            if request is None:
                return []
            new = NewEvent(
                request,
                "sexto-escalation",
                "service",
                correlation_id=event.envelope.correlationid,
                causation_id=event.id,
                # Derived from the case's first event: one request per case, even when two
                # assessments race to ask.
                event_id=derived_event_id(loaded.events[0].id, "escalation-requested"),
                protocol_version=event.envelope.protocolversion,
            )
            return [new]

        case = CaseRef(event.envelope.territory, event.envelope.subject)
        await execute(self.store, case, initial=Escalation(), evolve=evolve, decide=decide)
