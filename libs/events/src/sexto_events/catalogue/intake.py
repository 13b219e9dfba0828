"""Events of the intake context: a case reported and the facts added to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from sexto_events.catalogue.base import (
    EventData,
    PersonalName,
    PersonalText,
    Record,
    SchoolId,
    SealNumber,
    StaffRef,
    StudentRef,
    personal,
)
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, class_marker, classed


class Protocol(StrEnum):
    """The protocols a case can follow."""

    SEXTO_QC = "sexto-qc"
    UK_DSL = "uk-dsl"


class DiscoveryChannel(StrEnum):
    """How a staff member learnt of the situation."""

    STUDENT_DISCLOSURE = "student_disclosure"
    STAFF_OBSERVATION = "staff_observation"
    PARENT = "parent"
    OTHER = "other"


class StudentRole(StrEnum):
    """A student's role in the incident (one student may be met in several roles over time)."""

    DEPICTED = "depicted"
    PRODUCER = "producer"
    SENDER = "sender"
    REDISTRIBUTOR = "redistributor"
    RECEIVER = "receiver"
    BYSTANDER = "bystander"


Roles = Annotated[
    list[StudentRole],
    Field(min_length=1, max_length=6, json_schema_extra=class_marker(DataClass.OUTCOME)),
]
"""A student's roles, several at once (depicted *and* sender): they decide the track."""


def distinct_roles(roles: list[StudentRole]) -> list[StudentRole]:
    """The roles once each, in the order of StudentRole (a set, stored in one order)."""
    return [role for role in StudentRole if role in roles]


class StudentInvolvedV1(Record):
    """A student as the first report shapes named them: one role."""

    student_ref: StudentRef
    role: StudentRole = classed(DataClass.OUTCOME)
    age: int | None = classed(DataClass.GRID, "age", default=None, ge=5, le=25)
    grade: str | None = classed(DataClass.GRID, "grade", default=None, max_length=32)
    name: PersonalName = personal("student", "student_ref", DataClass.IDENTITY)


class StudentInvolved(Record):
    """A student named in a report: pseudonymous ref in clear, name sealed, roles a set."""

    student_ref: StudentRef
    roles: Roles
    age: int | None = classed(DataClass.GRID, "age", default=None, ge=5, le=25)
    grade: str | None = classed(DataClass.GRID, "grade", default=None, max_length=32)
    name: PersonalName = personal("student", "student_ref", DataClass.IDENTITY)

    @field_validator("roles")
    @classmethod
    def _once_each(cls, roles: list[StudentRole]) -> list[StudentRole]:
        return distinct_roles(roles)


def _student_v1_to_v2(student: dict[str, Any]) -> dict[str, Any]:
    student = dict(student)
    student["roles"] = [student.pop("role")]
    return student


@CATALOGUE.declare("intake", "case_reported", 1)
class CaseReportedV1(EventData):
    """First shape of a report (one role per student): kept only to read events written in it."""

    protocol: Protocol = classed(DataClass.JURISDICTION)
    school_id: SchoolId
    discovered_at: datetime = classed(DataClass.OUTCOME)
    discovery_channel: DiscoveryChannel = classed(DataClass.OUTCOME)
    summary: PersonalText = personal("case", None, DataClass.NARRATIVE)
    students: list[StudentInvolvedV1] = Field(min_length=1, max_length=50)


@CATALOGUE.declare("intake", "case_reported", 2)
class CaseReported(EventData):
    """An intervener opened a case. The summary is free text about students: sealed."""

    protocol: Protocol = classed(DataClass.JURISDICTION)
    school_id: SchoolId
    discovered_at: datetime = classed(
        DataClass.OUTCOME, description="a milestone: when the school learnt"
    )
    discovery_channel: DiscoveryChannel = classed(DataClass.OUTCOME)
    summary: PersonalText = personal("case", None, DataClass.NARRATIVE)
    students: list[StudentInvolved] = Field(min_length=1, max_length=50)


@CATALOGUE.upcaster(CaseReportedV1, CaseReported)
def _case_reported_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data["students"] = [_student_v1_to_v2(s) for s in data["students"]]
    return data


@CATALOGUE.declare("intake", "student_added", 1)
class StudentAddedV1(EventData):
    """First shape of a student added (one role): kept only to read events written in it."""

    student: StudentInvolvedV1


@CATALOGUE.declare("intake", "student_added", 2)
class StudentAdded(EventData):
    """A further student was found to be involved."""

    student: StudentInvolved


@CATALOGUE.upcaster(StudentAddedV1, StudentAdded)
def _student_added_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data["student"] = _student_v1_to_v2(data["student"])
    return data


@CATALOGUE.declare("intake", "device_secured", 1)
class DeviceSecuredV1(EventData):
    """First shape of a secured device: kept only to read events written in it."""

    owner_ref: StudentRef
    switched_off: bool = classed(DataClass.CUSTODY)
    seal_number: SealNumber | None = Field(default=None, max_length=64)


@CATALOGUE.declare("intake", "device_secured", 2)
class DeviceSecuredV2(EventData):
    """Second shape of a secured device (recorded when secured only): kept to read events."""

    owner_ref: StudentRef
    measure: str = classed(DataClass.CUSTODY, pattern=r"^(flight_mode|switched_off)$")
    seal_number: SealNumber | None = Field(default=None, max_length=64)


class LateCustody(Record):
    """A device secured before it was recorded (a bag found or sealed later): when it was
    actually secured, by whom, and why it is recorded late (in words, sealed)."""

    secured_at: datetime = classed(DataClass.CUSTODY, description="when it was secured")
    secured_by: StaffRef = Field(description="who secured it (the recorder is the actor)")
    reason: PersonalText = personal("case", None, DataClass.NARRATIVE)


@CATALOGUE.declare("intake", "device_secured", 3)
class DeviceSecured(EventData):
    """A phone was put in flight mode or switched off, and possibly sealed in a numbered bag;
    `late` when it is recorded after the fact (the chain of custody starts when secured)."""

    owner_ref: StudentRef
    measure: str = classed(DataClass.CUSTODY, pattern=r"^(flight_mode|switched_off)$")
    seal_number: SealNumber | None = Field(default=None, max_length=64)
    late: LateCustody | None = None


@CATALOGUE.upcaster(DeviceSecuredV1, DeviceSecuredV2)
def _device_secured_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 only knew "switched off or not"; a phone not switched off was, per the
    # protocol's first step, put in flight mode.
    switched_off = data.pop("switched_off")
    data["measure"] = "switched_off" if switched_off else "flight_mode"
    return data


@CATALOGUE.upcaster(DeviceSecuredV2, DeviceSecured)
def _device_secured_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    # Every device of v2 was recorded as it was secured.
    return data


@CATALOGUE.declare("intake", "note_added", 1)
class NoteAdded(EventData):
    """A factual note on the case, in words; free text is sealed."""

    text: PersonalText = personal("case", None, DataClass.NARRATIVE)


@CATALOGUE.declare("intake", "case_closed", 1)
class CaseClosed(EventData):
    """The case was closed with its resolution."""

    resolution: str = classed(DataClass.OUTCOME, pattern=r"^[a-z_]{1,64}$")
    note: PersonalText | None = personal("case", None, DataClass.NARRATIVE, default=None)


@CATALOGUE.declare("intake", "student_role_changed", 1)
class StudentRoleChangedV1(EventData):
    """First shape of a role correction (one role): kept only to read events written in it."""

    student_ref: StudentRef
    role: StudentRole = classed(DataClass.OUTCOME)
    reason: PersonalText = personal("case", None, DataClass.NARRATIVE)


@CATALOGUE.declare("intake", "student_role_changed", 2)
class StudentRoleChanged(EventData):
    """A student's roles were corrected (the whole new set); the reason is free text, sealed."""

    student_ref: StudentRef
    roles: Roles
    reason: PersonalText = personal("case", None, DataClass.NARRATIVE)

    @field_validator("roles")
    @classmethod
    def _once_each(cls, roles: list[StudentRole]) -> list[StudentRole]:
        return distinct_roles(roles)


@CATALOGUE.upcaster(StudentRoleChangedV1, StudentRoleChanged)
def _student_role_changed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    data["roles"] = [data.pop("role")]
    return data


@CATALOGUE.declare("intake", "prior_involvement_noted", 1)
class PriorInvolvementNoted(EventData):
    """A student of this case was involved in an earlier case of the same territory, found by
    the keyed blind index of the school's own student number (never the number, never the
    other case): a warning for the intervener, and recidivism for the grid."""

    student_ref: StudentRef
    earlier_cases: int = classed(DataClass.GRID, ge=1, description="how many earlier cases")


@CATALOGUE.declare("intake", "checklist_step_completed", 1)
class ChecklistStepCompleted(EventData):
    """A step of the protocol version's checklist was done (its id, from the protocol file)."""

    step_id: str = classed(DataClass.OUTCOME, pattern=r"^[a-z_]{1,64}$")
    note: PersonalText | None = personal("case", None, DataClass.NARRATIVE, default=None)


@CATALOGUE.declare("intake", "action_not_taken", 1)
class ActionNotTaken(EventData):
    """An action deliberately not taken, with its justification (UK: record what was not done)."""

    action: str = classed(
        DataClass.NARRATIVE, min_length=1, max_length=200, description="in words (narrative)"
    )
    justification: PersonalText = personal("case", None, DataClass.NARRATIVE)
