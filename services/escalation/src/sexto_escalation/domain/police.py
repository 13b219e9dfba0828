"""Does an assessment call for the police, and how urgently: pure.

SEXTO: malicious intent or recidivism calls for immediate police action; the UK path
escalates to the police or children's social care. Anything else stays with the school.
"""

from __future__ import annotations

from sexto_events.catalogue.escalation import EscalatedStudent, EscalationRequested
from sexto_events.catalogue.evaluation import AssessmentMade

from sexto_escalation.domain.workflow import Escalation

# The protocols' recommendations that hand the case to the police.
CALLS_FOR_POLICE = frozenset({"police_referral", "escalate_to_police_or_social_care"})


def calls_for_police(assessment: AssessmentMade) -> bool:
    """Whether the assessment's recommendation hands the case to the police."""
    return assessment.recommendation in CALLS_FOR_POLICE


def escalation_request(
    state: Escalation, assessment: AssessmentMade, assessment_event_id: str
) -> EscalationRequested | None:
    """The request an assessment calls for, at the urgency it gives; None when it stays
    with the school, or when the case was requested already (once per case)."""
    if not calls_for_police(assessment) or state.requested:
        return None
    return EscalationRequested(
        school_id=state.school_id,
        protocol=state.protocol,
        urgency=assessment.urgency,
        students=[
            EscalatedStudent(
                student_ref=s.student_ref,
                role=state.students.get(s.student_ref, "unknown"),
                indication=s.indication,
            )
            for s in assessment.students
        ],
        seal_numbers=list(state.seals),
        intervener_ref=state.reported_by,
        assessment_event_id=assessment_event_id,
    )
