"""Request and response bodies of the intake API: unknown fields refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sexto_events.catalogue.base import Ref
from sexto_events.catalogue.directory import CertificationLevel, Jurisdiction, Language
from sexto_events.catalogue.intake import DiscoveryChannel, Protocol, StudentRole
from sexto_events.disclosure import DataClass, Withheld, by_event_type, classed

REF = DataClass.REFERENCE


class Strict(BaseModel):
    """Bodies refuse unknown fields: a typo must not silently drop a fact."""

    model_config = ConfigDict(extra="forbid")


class RolesIn(Strict):
    """A student's roles: `roles` (a set), or `role` for a single one."""

    roles: list[StudentRole] | None = Field(
        default=None,
        min_length=1,
        max_length=6,
        description="the student's roles, several at once (depicted and sender...)",
    )
    role: StudentRole | None = Field(default=None, description="one role: short for `roles`")

    @model_validator(mode="after")
    def _one_way(self) -> RolesIn:
        if (self.roles is None) == (self.role is None):
            raise ValueError("give the student's roles as `roles` (a list) or `role` (one)")
        return self

    def role_set(self) -> list[StudentRole]:
        """The roles given, as a list."""
        return self.roles if self.roles is not None else [self.role] if self.role else []


class StudentIn(RolesIn):
    """A student involved; the name is personal data, sealed in the log."""

    student_ref: Ref | None = Field(
        default=None, description="your pseudonymous reference; generated when absent"
    )
    name: str = Field(min_length=1, max_length=200)
    age: int | None = Field(default=None, ge=5, le=25)
    grade: str | None = Field(default=None, max_length=32)
    student_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9 _-]+$",
        description="the school's own stable student number, if it gives one: used only to "
        "recognise a student seen in an earlier case of the territory (a keyed blind index); "
        "never recorded nor shown",
    )


class ReportCaseIn(Strict):
    """An incident report: facts in words, never an image."""

    protocol: Protocol
    school_id: Ref
    discovered_at: AwareDatetime
    discovery_channel: DiscoveryChannel
    summary: str = Field(min_length=1, max_length=4000, description="factual, in words")
    students: list[StudentIn] = Field(min_length=1, max_length=50)


class StudentOut(BaseModel):
    """A student as the read model holds it: reference and role, no name. An age or a grade
    reaches analysts as a band, and is withheld from roles the policy does not show it."""

    student_ref: str = classed(REF, "student")
    roles: list[str] = classed(DataClass.OUTCOME)
    age: int | str | Withheld | None = classed(
        DataClass.GRID, "age", default=None, description="years; a band such as 14_15 for analysts"
    )
    grade: str | Withheld | None = classed(
        DataClass.GRID, "grade", default=None, description="as reported; a band for analysts"
    )
    earlier_cases: int | Withheld = classed(
        DataClass.GRID,
        default=0,
        description="a warning when above 0: how many earlier cases of the territory the "
        "student was involved in (recognised by the school's student number)",
    )


class CaseOut(BaseModel):
    """A case's current state."""

    case_id: str = classed(REF, "case")
    territory: str = classed(DataClass.JURISDICTION)
    school_id: str = classed(REF, "school")
    protocol: str = classed(DataClass.JURISDICTION)
    status: str = classed(DataClass.OUTCOME)
    escalation_status: str = classed(
        DataClass.OUTCOME,
        default="none",
        description="the lifecycle's status word, as the police queue shows it: none, "
        "requested, acknowledged, kit_collected, prosecutor_consulted, decided, closed",
    )
    discovered_at: datetime = classed(DataClass.OUTCOME)
    reported_at: datetime = classed(DataClass.RECORD)
    students: list[StudentOut]
    version: int = classed(DataClass.RECORD)


class CasePage(BaseModel):
    """A page of cases, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[CaseOut]
    next_cursor: str | None = classed(DataClass.RECORD, description="opaque")


class HistoryEntry(BaseModel):
    """One event of a case's timeline, as read from the log; its data as the disclosure
    policy shows it to the reader (see GET /v1/disclosure)."""

    seq: int = classed(DataClass.RECORD)
    id: str = classed(DataClass.RECORD)
    time: str = classed(DataClass.RECORD)
    type: str = classed(DataClass.RECORD)
    actor: str | Withheld = classed(DataClass.STAFF, "person")
    actor_role: str = classed(DataClass.RECORD)
    data: dict[str, object] = by_event_type(
        "the event's data, each field by its class (x-data-class in the catalogue): shown, "
        'pseudonymised, or {"withheld": true} (GET /v1/disclosure)'
    )


class HistoryOut(BaseModel):
    """A case's timeline, its chain verified."""

    case_id: str = classed(REF, "case")
    as_of: datetime | None = classed(DataClass.RECORD)
    chain_verified: bool = classed(DataClass.RECORD)
    version: int = classed(DataClass.RECORD)
    events: list[HistoryEntry]


class TerritoryIn(Strict):
    """A police force's territory, and the jurisdiction its schools work under (qc: the
    SEXTO protocol; england: the UK designated-safeguarding-lead path)."""

    territory_id: Ref
    name: str = Field(min_length=1, max_length=200)
    jurisdiction: Jurisdiction


class AgreementIn(Strict):
    """An agreement between a police force and the DPCP."""

    agreement_id: Ref
    territory_id: Ref
    signed_on: date
    in_force_from: date
    in_force_to: date | None = None


class SchoolIn(Strict):
    """A school."""

    school_id: Ref
    name: str = Field(min_length=1, max_length=200)
    territory_id: Ref
    language: Language


class IntervenerIn(Strict):
    """A certification of a school intervener (pseudonymous id)."""

    intervener_id: Ref
    school_id: Ref
    level: CertificationLevel
    certified_on: date


JUR = DataClass.JURISDICTION


class TerritoryOut(BaseModel):
    """A territory of the directory."""

    territory_id: str = classed(JUR)
    name: str = classed(JUR)
    jurisdiction: str = classed(JUR)


class AgreementOut(BaseModel):
    """An agreement of the directory."""

    agreement_id: str = classed(JUR)
    territory_id: str = classed(JUR)
    signed_on: date = classed(JUR)
    in_force_from: date = classed(JUR)
    in_force_to: date | None = classed(JUR, default=None)


class SchoolOut(BaseModel):
    """A school of the directory (an institution: its id is directory data here)."""

    school_id: str = classed(JUR)
    name: str = classed(JUR)
    territory_id: str = classed(JUR)
    language: str = classed(JUR)


class IntervenerOut(BaseModel):
    """A certified intervener of the directory: the pseudonymous id the admin registered,
    the school and the training (directory data: what the intervener did on a case is staff
    data, never here)."""

    intervener_id: str = classed(JUR, "person")
    school_id: str = classed(JUR)
    level: str = classed(DataClass.RECORD)
    certified_on: date = classed(DataClass.RECORD)


class Recorded(BaseModel):
    """What a write stored."""

    id: str = classed(DataClass.RECORD)
    stream_seq: int = classed(DataClass.RECORD)


class RoleChangeIn(RolesIn):
    """The corrected roles (the whole new set), with why."""

    reason: str = Field(min_length=1, max_length=4000)


class LateIn(Strict):
    """A device recorded after it was secured (a bag found or sealed later)."""

    secured_at: AwareDatetime = Field(description="when it was actually secured")
    secured_by: Ref | None = Field(
        default=None, description="who secured it (pseudonymous id); you when absent"
    )
    reason: str = Field(min_length=1, max_length=4000, description="why it is recorded late")


class DeviceIn(Strict):
    """A phone secured: flight mode or switched off, and the seal number of its bag; `late`
    when it is recorded after the fact."""

    owner_ref: Ref
    measure: Literal["flight_mode", "switched_off"]
    seal_number: str | None = Field(default=None, min_length=1, max_length=64)
    late: LateIn | None = None


class StepIn(Strict):
    """A checklist step done, optionally with a note."""

    note: str | None = Field(default=None, min_length=1, max_length=4000)


class NoteIn(Strict):
    """A factual note, in words."""

    text: str = Field(min_length=1, max_length=4000)


class ActionNotTakenIn(Strict):
    """An action deliberately not taken, and why (UK guidance: record it).

    The action is a short code, stored in clear; everything about people goes in the
    justification, which is sealed. The record classes the action as narrative (records made
    before it was a code hold words there): it is shown to those the disclosure policy shows
    narrative, and withheld from the others, analysts included.
    """

    action: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="a code such as search_device, inform_parents, report_to_police; "
        "describe it, and why, in the justification (sealed)",
        examples=["search_device"],
    )
    justification: str = Field(min_length=1, max_length=4000)


class CloseIn(Strict):
    """The case's resolution."""

    resolution: str = Field(pattern=r"^[a-z_]{1,64}$", examples=["educational_meeting_held"])
    note: str | None = Field(default=None, min_length=1, max_length=4000)


class FactRecorded(BaseModel):
    """A fact on the record: its event id and the case's version after it."""

    id: str = classed(DataClass.RECORD)
    version: int = classed(DataClass.RECORD)


class ChainOut(BaseModel):
    """A case's hash chain, verified from the stored bytes."""

    case_id: str = classed(REF, "case")
    events: int = classed(DataClass.RECORD)
    verified: bool = classed(DataClass.RECORD)
    broken_position: int | None = classed(DataClass.RECORD, default=None)
    broken_event_id: str | None = classed(DataClass.RECORD, default=None)
    reason: str | None = classed(DataClass.RECORD, default=None)
    head_hash: str = classed(REF, "hash")


class LegalEntry(HistoryEntry):
    """One event of the timeline with the protocol version it was recorded under."""

    protocol_version: str | None = classed(DataClass.JURISDICTION, default=None)


class LegalHistoryOut(BaseModel):
    """The timeline for a legal review: personal data in clear, the whole chain verified."""

    case_id: str = classed(REF, "case")
    as_of: datetime | None = classed(DataClass.RECORD)
    chain: ChainOut
    version: int = classed(DataClass.RECORD)
    events: list[LegalEntry]
