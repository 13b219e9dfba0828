"""How an event type is declared: a frozen pydantic model, a context, a name and a version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sexto_events.disclosure import DataClass, class_marker

PERSONAL_KEY = "x-personal-data"

Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""A pseudonymous reference or an id: letters, digits, '-' and '_' only."""

StudentRef = Annotated[Ref, Field(json_schema_extra=class_marker(DataClass.REFERENCE, "student"))]
"""A student's pseudonymous reference (unique within its case)."""
SchoolId = Annotated[Ref, Field(json_schema_extra=class_marker(DataClass.REFERENCE, "school"))]
"""A school's id in the directory."""
StaffRef = Annotated[Ref, Field(json_schema_extra=class_marker(DataClass.STAFF, "person"))]
"""A professional's pseudonymous id: who acted."""
TerritoryId = Annotated[Ref, Field(json_schema_extra=class_marker(DataClass.JURISDICTION))]
"""A police force's territory."""
SealNumber = Annotated[str, Field(json_schema_extra=class_marker(DataClass.REFERENCE, "kit_seal"))]
"""A confiscation bag's seal number."""
EventId = Annotated[str, Field(json_schema_extra=class_marker(DataClass.RECORD))]
"""The id of an event on the record."""


class Record(BaseModel):
    """An immutable value with unknown fields refused: the base of event data and its parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EventData(Record):
    """Base of every event's `data`."""

    event_context: ClassVar[str]
    event_name: ClassVar[str]
    type_version: ClassVar[int]  # the N of the type: a new one comes with an upcaster

    @classmethod
    def type_name(cls) -> str:
        """The CloudEvents `type`, e.g. org.sexto.intake.case_reported.v2."""
        return f"org.sexto.{cls.event_context}.{cls.event_name}.v{cls.type_version}"

    @classmethod
    def subject_suffix(cls) -> str:
        """The last two subject tokens: <context>.<event>."""
        return f"{cls.event_context}.{cls.event_name}"


class Erased(BaseModel):
    """What a personal field reads as once its data subject's key has been shredded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    erased: Literal[True] = True


ERASED = Erased()

PersonalName = Annotated[str, StringConstraints(min_length=1, max_length=200)] | Erased
"""A person's name: personal data, sealed in the log."""

PersonalText = Annotated[str, StringConstraints(min_length=1, max_length=4000)] | Erased
"""Free text about students or a case: personal data, sealed in the log."""


@dataclass(frozen=True, slots=True)
class PersonalSpec:
    """Which data subject a personal field belongs to: `kind` and the sibling field naming them."""

    kind: str
    ref_field: str | None


def personal(kind: str, ref_field: str | None, data_class: DataClass, **field_kwargs: Any) -> Any:
    """Mark a field as personal data of a subject (`ref_field`; None means the case itself),
    sealed in the log, of a class of data (identity, contact, narrative...)."""
    extra: dict[str, Any] = {PERSONAL_KEY: {"subject": kind, "ref": ref_field or "$case"}}
    extra.update(class_marker(data_class))
    return Field(json_schema_extra=extra, **field_kwargs)


def personal_spec(extra: Any) -> PersonalSpec | None:
    """The personal-data marker of a field's json_schema_extra, if any."""
    if not isinstance(extra, dict) or PERSONAL_KEY not in extra:
        return None
    marker = extra[PERSONAL_KEY]
    ref = marker["ref"]
    return PersonalSpec(kind=marker["subject"], ref_field=None if ref == "$case" else ref)


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
