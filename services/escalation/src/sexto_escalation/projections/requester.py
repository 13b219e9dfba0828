"""Requests police escalation when an assessment calls for it (once per case)."""

from __future__ import annotations

from sexto_events.catalogue.escalation import EscalatedStudent, EscalationRequested
from sexto_events.catalogue.evaluation import AssessmentMade
from sexto_events.db import DbConnection
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, NewEvent, RecordedEvent
from sexto_events.reactions import Reactor, append_once

from sexto_escalation.domain.workflow import Escalation, evolve

CALLS_FOR_POLICE = frozenset({"police_referral", "escalate_to_police_or_social_care"})


class EscalationRequester(Reactor):
    """Records EscalationRequested on the case."""

    name = "requester"

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if not isinstance(data, AssessmentMade) or data.recommendation not in CALLS_FOR_POLICE:
            return  # a school-managed case never escalates
        case = CaseRef(event.envelope.territory, event.envelope.subject)
        loaded = await self.store.load(case)
        state = Escalation()
        for earlier in loaded.events:
            state = evolve(state, earlier.data)
        if state.requested:
            return  # an amended assessment does not request a second time
        request = EscalationRequested(
            school_id=state.school_id,
            protocol=state.protocol,
            urgency=data.urgency,
            students=[
                EscalatedStudent(
                    student_ref=s.student_ref,
                    role=state.students.get(s.student_ref, "unknown"),
                    indication=s.indication,
                )
                for s in data.students
            ],
            seal_numbers=list(state.seals),
            intervener_ref=loaded.events[0].envelope.actor,  # who reported the case
            assessment_event_id=event.id,
        )
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
        await append_once(self.store, case, new)
