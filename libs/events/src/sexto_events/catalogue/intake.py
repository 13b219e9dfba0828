"""Events of the intake context: a case reported and the facts added to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from sexto_events.catalogue.base import (
    EventData,
    PersonalName,
    PersonalText,
    Record,
    SchoolId,
    SealNumber,
    StudentRef,
    personal,
)
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, classed


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


class StudentInvolved(Record):
    """A student named in a report: pseudonymous ref in clear, name sealed."""

    student_ref: StudentRef
    role: StudentRole = classed(DataClass.OUTCOME)
    age: int | None = classed(DataClass.GRID, "age", default=None, ge=5, le=25)
    grade: str | None = classed(DataClass.GRID, "grade", default=None, max_length=32)
    name: PersonalName = personal("student", "student_ref", DataClass.IDENTITY)


@CATALOGUE.declare("intake", "case_reported", 1)
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


@CATALOGUE.declare("intake", "student_added", 1)
class StudentAdded(EventData):
    """A further student was found to be involved."""

    student: StudentInvolved


@CATALOGUE.declare("intake", "device_secured", 1)
class DeviceSecuredV1(EventData):
    """First shape of a secured device: kept only to read events written in it."""

    owner_ref: StudentRef
    switched_off: bool = classed(DataClass.CUSTODY)
    seal_number: SealNumber | None = Field(default=None, max_length=64)


@CATALOGUE.declare("intake", "device_secured", 2)
class DeviceSecured(EventData):
    """A phone was put in flight mode or switched off, and possibly sealed in a numbered bag."""

    owner_ref: StudentRef
    measure: str = classed(DataClass.CUSTODY, pattern=r"^(flight_mode|switched_off)$")
    seal_number: SealNumber | None = Field(default=None, max_length=64)


@CATALOGUE.upcaster(DeviceSecuredV1, DeviceSecured)
def _device_secured_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 only knew "switched off or not"; a phone not switched off was, per the
    # protocol's first step, put in flight mode.
    switched_off = data.pop("switched_off")
    data["measure"] = "switched_off" if switched_off else "flight_mode"
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
class StudentRoleChanged(EventData):
    """A student's role was corrected; the reason is free text, sealed."""

    student_ref: StudentRef
    role: StudentRole = classed(DataClass.OUTCOME)
    reason: PersonalText = personal("case", None, DataClass.NARRATIVE)


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
