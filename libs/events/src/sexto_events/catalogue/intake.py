"""Events of the intake context: a case reported and the facts added to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from sexto_events.catalogue.base import EventData, PersonalName, PersonalText, Record, Ref, personal
from sexto_events.catalogue.registry import CATALOGUE


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

    student_ref: Ref
    role: StudentRole
    age: int | None = Field(default=None, ge=5, le=25)
    grade: str | None = Field(default=None, max_length=32)
    name: PersonalName = personal("student", "student_ref")


@CATALOGUE.declare("intake", "case_reported", 1)
class CaseReported(EventData):
    """An intervener opened a case. The summary is free text about students: sealed."""

    protocol: Protocol
    school_id: Ref
    discovered_at: datetime
    discovery_channel: DiscoveryChannel
    summary: PersonalText = personal("case", None)
    students: list[StudentInvolved] = Field(min_length=1, max_length=50)


@CATALOGUE.declare("intake", "student_added", 1)
class StudentAdded(EventData):
    """A further student was found to be involved."""

    student: StudentInvolved


@CATALOGUE.declare("intake", "device_secured", 1)
class DeviceSecuredV1(EventData):
    """First shape of a secured device: kept only to read events written in it."""

    owner_ref: Ref
    switched_off: bool
    seal_number: str | None = Field(default=None, max_length=64)


@CATALOGUE.declare("intake", "device_secured", 2)
class DeviceSecured(EventData):
    """A phone was put in flight mode or switched off, and possibly sealed in a numbered bag."""

    owner_ref: Ref
    measure: str = Field(pattern=r"^(flight_mode|switched_off)$")
    seal_number: str | None = Field(default=None, max_length=64)


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

    text: PersonalText = personal("case", None)


@CATALOGUE.declare("intake", "case_closed", 1)
class CaseClosed(EventData):
    """The case was closed with its resolution."""

    resolution: str = Field(pattern=r"^[a-z_]{1,64}$")
    note: PersonalText | None = personal("case", None, default=None)


@CATALOGUE.declare("intake", "student_role_changed", 1)
class StudentRoleChanged(EventData):
    """A student's role was corrected; the reason is free text, sealed."""

    student_ref: Ref
    role: StudentRole
    reason: PersonalText = personal("case", None)


@CATALOGUE.declare("intake", "checklist_step_completed", 1)
class ChecklistStepCompleted(EventData):
    """A step of the protocol version's checklist was done (its id, from the protocol file)."""

    step_id: str = Field(pattern=r"^[a-z_]{1,64}$")
    note: PersonalText | None = personal("case", None, default=None)


@CATALOGUE.declare("intake", "action_not_taken", 1)
class ActionNotTaken(EventData):
    """An action deliberately not taken, with its justification (UK: record what was not done)."""

    action: str = Field(min_length=1, max_length=200)
    justification: PersonalText = personal("case", None)
