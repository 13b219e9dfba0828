"""Bodies of the evaluation API: unknown fields refused."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sexto_events.catalogue.evaluation import AssessmentMade
from sexto_events.disclosure import DataClass, Withheld, by_event_type, classed


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


class WarningShown(BaseModel):
    """A warning for the intervener (evaluation's GridWarning), as its reader may see it:
    the code, what the case says and what the grid answers are grid data."""

    code: str | Withheld = classed(
        DataClass.GRID,
        "choice",
        description="age_gap_differs, age_band_differs or prior_involvement_found",
    )
    student_ref: str = classed(DataClass.REFERENCE, "student")
    field: str | None = classed(DataClass.RECORD, description="the grid field to look at")
    expected: str | Withheld | None = classed(
        DataClass.GRID, "choice", description="what the facts on the case say"
    )
    answered: str | list[str] | Withheld | None = classed(
        DataClass.GRID, "choice", description="the grid's answer, null if none yet"
    )
    fr: str | Withheld = classed(DataClass.GRID, "choice")
    en: str | Withheld = classed(DataClass.GRID, "choice")


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
    warnings: list[WarningShown] = Field(
        description="reported ages that contradict the answers, a student seen before"
    )


class GridShown(BaseModel):
    """One student's grid as it stands, what it still lacks, and what to look at."""

    student_ref: str = classed(DataClass.REFERENCE, "student")
    status: str = classed(
        DataClass.OUTCOME,
        description="pending, draft, complete, or amendment_draft (complete, with a newer "
        "draft of an amendment)",
    )
    missing: list[str] = classed(
        DataClass.RECORD, description="required fields the latest answers leave unanswered"
    )
    warnings: list[WarningShown]


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
