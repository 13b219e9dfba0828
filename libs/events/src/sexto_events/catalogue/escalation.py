"""Events of the escalation context: police dispatch, custody of the kit, the DPCP's decision.

What police receive is what they need and no more: references, roles, indications, seals.
"""

from __future__ import annotations

from datetime import datetime

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
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, classed


class EscalatedStudent(Record):
    """A student as police see it: pseudonymous reference, role, preliminary indication."""

    student_ref: StudentRef
    role: str = classed(DataClass.OUTCOME)
    indication: str = classed(DataClass.OUTCOME)


@CATALOGUE.declare("escalation", "requested", 1)
class EscalationRequested(EventData):
    """The assessment calls for the police."""

    school_id: SchoolId
    protocol: str = classed(DataClass.JURISDICTION)
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    students: list[EscalatedStudent] = Field(min_length=1)
    seal_numbers: list[SealNumber]
    intervener_ref: str = classed(
        DataClass.CALLBACK,
        "person",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="who to contact at the school (pseudonymous id)",
    )
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
class ReferralRecorded(EventData):
    """UK path: the DSL referred the case to the police or children's social care."""

    agency: str = classed(DataClass.OUTCOME, pattern=r"^(police|childrens_social_care)$")
    reference: str = classed(DataClass.EXTERNAL_REF, "file", min_length=1, max_length=64)


@CATALOGUE.declare("escalation", "meeting_scheduled", 1)
class MeetingScheduled(EventData):
    """An educational meeting with community relations officers, after an impulsive decision."""

    student_ref: StudentRef
    at: datetime = classed(DataClass.OUTCOME)


@CATALOGUE.declare("escalation", "meeting_held", 1)
class MeetingHeld(EventData):
    """The educational meeting took place; who attended (roles, never names)."""

    student_ref: StudentRef
    attended: list[str] = classed(DataClass.OUTCOME, min_length=1, max_length=10)
