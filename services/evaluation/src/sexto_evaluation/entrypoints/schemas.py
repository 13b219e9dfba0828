"""Bodies of the evaluation API: unknown fields refused."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sexto_events.catalogue.base import StudentRef
from sexto_events.catalogue.evaluation import AssessmentMade, GridWarning
from sexto_events.disclosure import DataClass, by_event_type, classed


class GridIn(BaseModel):
    """A student's grid: choices by field id, and answers in words under `notes`."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str | list[str]] = Field(
        description="field id -> allowed value (or values), per the protocol version"
    )
    notes: dict[str, str] = Field(
        default_factory=dict, description="field id -> words (never an image)"
    )
    reason: str | None = Field(
        default=None, min_length=1, max_length=4000, description="required to amend a grid"
    )


class GridRecorded(BaseModel):
    """The events written: the grid (a draft while required answers are missing), and the
    assessment if the grid completed the set; what is missing and the warnings to look at."""

    event_ids: list[str] = classed(DataClass.RECORD)
    version: int = classed(DataClass.RECORD)
    assessed: bool = classed(DataClass.OUTCOME)
    complete: bool = classed(
        DataClass.OUTCOME, description="false: saved as a draft, not assessed until complete"
    )
    missing: list[str] = classed(
        DataClass.RECORD, description="the protocol version's required fields still unanswered"
    )
    warnings: list[GridWarning] = Field(
        description="reported ages that contradict the answers, a student seen before"
    )


class GridShown(BaseModel):
    """One student's grid as it stands, what it still lacks, and what to look at."""

    student_ref: StudentRef
    status: str = classed(
        DataClass.OUTCOME,
        description="pending, draft, complete, or amendment_draft (complete, with a newer "
        "draft of an amendment)",
    )
    missing: list[str] = classed(
        DataClass.RECORD, description="required fields the latest answers leave unanswered"
    )
    warnings: list[GridWarning]


class AssessmentShown(AssessmentMade):
    """The assessment event's data with where it stands on the record."""

    event_id: str = classed(DataClass.RECORD)
    time: str = classed(DataClass.RECORD)
    protocol_version: str | None = classed(DataClass.JURISDICTION, default=None)


class AssessmentOut(BaseModel):
    """The latest assessment of a case, with its reasons in French and English."""

    case_id: str = classed(DataClass.REFERENCE, "case")
    status: str = classed(DataClass.OUTCOME)
    pending_students: list[str] = classed(DataClass.REFERENCE, "student")
    grids: list[GridShown] = Field(
        default_factory=list, description="each student's grid: status, missing fields, warnings"
    )
    protocol_version: str = classed(DataClass.JURISDICTION)
    assessment: dict[str, Any] | None = by_event_type(
        "the assessment event's data (AssessmentShown), each field by its class as "
        "GET /v1/disclosure shows it to the caller; null while grids are pending"
    )
