"""Events of the escalation context: police dispatch, custody of the kit, the DPCP's decision.

What police receive is what they need and no more: references, roles, indications, seals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from sexto_events.catalogue.base import (
    EventData,
    EventId,
    PersonalText,
    Record,
    SchoolId,
    SealNumber,
    StaffRef,
    StudentRef,
    personal,
)
from sexto_events.catalogue.intake import StudentRole
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, classed


class EscalatedStudentV1(Record):
    """A student as the first request shaped them: one role string (several joined by "+")."""

    student_ref: StudentRef
    role: str = classed(DataClass.OUTCOME)
    indication: str = classed(DataClass.OUTCOME)


class EscalatedStudent(Record):
    """A student as police see it: pseudonymous reference, roles, track, indication."""

    student_ref: StudentRef
    roles: list[StudentRole] = classed(DataClass.OUTCOME, max_length=6)
    track: str | None = classed(
        DataClass.OUTCOME,
        default=None,
        pattern=r"^(offender|victim|witness)$",
        description="offender, victim or witness; none on requests recorded before tracks "
        "(readers derive it from the roles)",
    )
    indication: str = classed(DataClass.OUTCOME)


_URGENCY = r"^(routine|high|urgent)$"
_CALLBACK = classed(
    DataClass.CALLBACK,
    "person",
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9_-]+$",
    description="who to contact at the school (pseudonymous id)",
)


@CATALOGUE.declare("escalation", "requested", 1)
class EscalationRequestedV1(EventData):
    """First shape of a request (one role string per student): kept to read old events."""

    school_id: SchoolId
    protocol: str = classed(DataClass.JURISDICTION)
    urgency: str = classed(DataClass.OUTCOME, pattern=_URGENCY)
    students: list[EscalatedStudentV1] = Field(min_length=1)
    seal_numbers: list[SealNumber]
    intervener_ref: str = _CALLBACK
    assessment_event_id: EventId


@CATALOGUE.declare("escalation", "requested", 2)
class EscalationRequested(EventData):
    """The assessment calls for the police."""

    school_id: SchoolId
    protocol: str = classed(DataClass.JURISDICTION)
    urgency: str = classed(DataClass.OUTCOME, pattern=_URGENCY)
    students: list[EscalatedStudent] = Field(min_length=1)
    seal_numbers: list[SealNumber]
    intervener_ref: str = _CALLBACK
    assessment_event_id: EventId


def _escalated_student_v1_to_v2(student: dict[str, Any]) -> dict[str, Any]:
    # The interim code joined a student's roles with "+"; a role it could not find on the
    # case was written "unknown", which names no role.
    student = dict(student)
    known = {role.value for role in StudentRole}
    student["roles"] = [r for r in student.pop("role").split("+") if r in known]
    student["track"] = None
    return student


@CATALOGUE.upcaster(EscalationRequestedV1, EscalationRequested)
def _requested_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data["students"] = [_escalated_student_v1_to_v2(s) for s in data["students"]]
    return data


class ReassessedStudent(Record):
    """One student's indication in a later assessment, and the rules that fired on it."""

    student_ref: StudentRef
    indication: str = classed(DataClass.OUTCOME)
    urgency: str = classed(DataClass.OUTCOME, pattern=_URGENCY)
    rules_fired: list[str] = classed(DataClass.OUTCOME, max_length=50)


@CATALOGUE.declare("escalation", "urgency_changed", 1)
class EscalationUrgencyChanged(EventData):
    """A later assessment of an escalated case changed its urgency, its indications or its
    recommendation. Recorded whichever way it goes: the request stands (an escalation is
    never withdrawn silently), the police see the new assessment, the queue re-orders and
    the deadlines re-arm for the new urgency."""

    previous_urgency: str = classed(DataClass.OUTCOME, pattern=_URGENCY)
    urgency: str = classed(DataClass.OUTCOME, pattern=_URGENCY)
    change: str = classed(
        DataClass.OUTCOME,
        pattern=r"^(raised|lowered|unchanged)$",
        description="how the urgency moved (unchanged: the indications or recommendation did)",
    )
    recommendation: str = classed(DataClass.OUTCOME, pattern=r"^[a-z_]{1,64}$")
    calls_for_police: bool = classed(
        DataClass.OUTCOME, description="false: the new assessment no longer calls the police"
    )
    students: list[ReassessedStudent] = Field(min_length=1)
    assessment_event_id: EventId


@CATALOGUE.declare("escalation", "acknowledged", 1)
class EscalationAcknowledged(EventData):
    """Police dispatch took the escalation: the 911 call reference and the dispatcher."""

    call_reference: str = classed(DataClass.EXTERNAL_REF, "file", min_length=1, max_length=64)
    dispatcher_ref: StaffRef


class SealCheck(Record):
    """One sealed bag as the patrol officer found it."""

    seal_number: SealNumber = Field(min_length=1, max_length=64)
    intact: bool = classed(DataClass.CUSTODY)


@CATALOGUE.declare("escalation", "kit_collected", 1)
class KitCollected(EventData):
    """A patrol officer collected the kit; custody passed from the school to the police."""

    officer_ref: StaffRef
    seals: list[SealCheck]
    missing_seals: list[SealNumber] = Field(description="secured at the school, not handed over")
    unexpected_seals: list[SealNumber] = Field(description="handed over, never recorded as secured")
    flagged: bool = classed(
        DataClass.CUSTODY, description="a mismatch or a broken seal: never silently accepted"
    )


@CATALOGUE.declare("escalation", "prosecutor_consulted", 1)
class ProsecutorConsulted(EventData):
    """The police consulted the DPCP."""

    dpcp_file_reference: str = classed(DataClass.EXTERNAL_REF, "file", min_length=1, max_length=64)


@CATALOGUE.declare("escalation", "prosecutor_decided", 1)
class ProsecutorDecided(EventData):
    """The DPCP's decision for one student, with its reasons (sealed)."""

    student_ref: StudentRef
    decision: str = classed(DataClass.OUTCOME, pattern=r"^(impulsive|malicious|no_further_action)$")
    reasons: PersonalText = personal("case", None, DataClass.NARRATIVE)
    follow_up: str = classed(
        DataClass.OUTCOME, pattern=r"^(educational_meeting_required|investigation_opened|none)$"
    )


@CATALOGUE.declare("escalation", "overdue", 1)
class EscalationOverdue(EventData):
    """A step was not taken by its deadline (one event per breach)."""

    step: str = classed(DataClass.OUTCOME, pattern=r"^(acknowledge|collect_kit)$")
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    deadline: datetime = classed(DataClass.OUTCOME)


@CATALOGUE.declare("escalation", "referral_recorded", 1)
class ReferralRecordedV1(EventData):
    """First shape of a referral (police or children's social care): kept to read old events."""

    agency: str = classed(DataClass.OUTCOME, pattern=r"^(police|childrens_social_care)$")
    reference: str = classed(DataClass.EXTERNAL_REF, "file", min_length=1, max_length=64)


@CATALOGUE.declare("escalation", "referral_recorded", 2)
class ReferralRecorded(EventData):
    """UK path: the DSL referred the case to one agency (several referrals per case)."""

    agency: str = classed(DataClass.OUTCOME, pattern=r"^(police|childrens_social_care|other)$")
    agency_name: str | None = classed(
        DataClass.OUTCOME,
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9_]+$",
        description="which agency, when `other` (a slug, e.g. camhs)",
    )
    reference: str = classed(DataClass.EXTERNAL_REF, "file", min_length=1, max_length=64)


@CATALOGUE.upcaster(ReferralRecordedV1, ReferralRecorded)
def _referral_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "agency_name": None}


@CATALOGUE.declare("escalation", "meeting_scheduled", 1)
class MeetingScheduled(EventData):
    """A meeting with community relations officers: the educational meeting after an
    impulsive decision, or the meeting of a victim-track student."""

    student_ref: StudentRef
    at: datetime = classed(DataClass.OUTCOME)


@CATALOGUE.declare("escalation", "meeting_held", 1)
class MeetingHeld(EventData):
    """The meeting took place; who attended (roles, never names)."""

    student_ref: StudentRef
    attended: list[str] = classed(DataClass.OUTCOME, min_length=1, max_length=10)


@CATALOGUE.declare("escalation", "support_offered", 1)
class SupportOffered(EventData):
    """Support offered to a student (victim assistance such as CAVAC, image-removal help,
    counselling): the service's reference only, never a document."""

    student_ref: StudentRef
    kind: str = classed(
        DataClass.OUTCOME, pattern=r"^(victim_assistance|image_removal|counselling|other)$"
    )
    reference: str = classed(DataClass.EXTERNAL_REF, "file", min_length=1, max_length=64)
