"""Does an assessment call for the police, how urgently, and what a later one changes: pure.

SEXTO: malicious intent or recidivism calls for immediate police action; the UK path
escalates to the police or children's social care. Anything else stays with the school.
Every later assessment of an escalated case (an amended grid included) is followed: what
it changes is recorded for the police to see, whichever way it goes, and the request
stands — an escalation is never withdrawn silently.
"""

from __future__ import annotations

from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationRequested,
    EscalationUrgencyChanged,
    ReassessedStudent,
)
from sexto_events.catalogue.evaluation import AssessmentMade
from sexto_events.catalogue.intake import StudentRole
from sexto_protocols.lifecycle import CALLS_FOR_POLICE

from sexto_escalation.domain.workflow import Escalation

URGENCY_RANK = {"routine": 0, "high": 1, "urgent": 2}


def calls_for_police(assessment: AssessmentMade) -> bool:
    """Whether the assessment's recommendation hands the case to the police."""
    return assessment.recommendation in CALLS_FOR_POLICE


def escalation_request(
    state: Escalation, assessment: AssessmentMade, assessment_event_id: str
) -> EscalationRequested | None:
    """The request an assessment calls for, at the urgency it gives; None when it stays
    with the school, or when the case was requested already (once per case), or closed."""
    if not calls_for_police(assessment) or state.requested or state.closed:
        return None
    return EscalationRequested(
        school_id=state.school_id,
        protocol=state.protocol,
        urgency=assessment.urgency,
        students=[
            EscalatedStudent(
                student_ref=s.student_ref,
                roles=[StudentRole(r) for r in state.students.get(s.student_ref, ())],
                track=state.case.track(s.student_ref).value,
                indication=s.indication,
            )
            for s in assessment.students
        ],
        seal_numbers=list(state.seals),
        intervener_ref=state.reported_by,
        assessment_event_id=assessment_event_id,
    )


def reassessment(
    state: Escalation, assessment: AssessmentMade, assessment_event_id: str
) -> EscalationUrgencyChanged | None:
    """What a later assessment of an escalated case changes: its urgency (up or down), its
    students' indications, or whether it still calls for the police. None when the case is
    not escalated, is closed, or nothing changed (the assessment that asked, seen again)."""
    if not state.requested or state.closed:
        return None
    indications = {s.student_ref: s.indication for s in assessment.students}
    calls = calls_for_police(assessment)
    if (
        assessment.urgency == state.urgency
        and indications == state.indications
        and calls == state.calls_for_police
    ):
        return None
    move = URGENCY_RANK[assessment.urgency] - URGENCY_RANK[state.urgency]
    return EscalationUrgencyChanged(
        previous_urgency=state.urgency,
        urgency=assessment.urgency,
        change="raised" if move > 0 else "lowered" if move < 0 else "unchanged",
        recommendation=assessment.recommendation,
        calls_for_police=calls,
        students=[
            ReassessedStudent(
                student_ref=s.student_ref,
                indication=s.indication,
                urgency=s.urgency,
                rules_fired=[rule.rule_id for rule in s.fired],
            )
            for s in assessment.students
        ],
        assessment_event_id=assessment_event_id,
    )
