"""Events of the evaluation context: one grid per student, and the assessment."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sexto_events.catalogue.base import (
    EventData,
    EventId,
    PersonalText,
    Record,
    StudentRef,
    personal,
)
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, classed

Answer = str | list[str]


@CATALOGUE.declare("evaluation", "grids_opened", 1)
class GridsOpened(EventData):
    """Pending grids: one per student, under the case's protocol version."""

    student_refs: list[StudentRef] = Field(min_length=1, max_length=50)


class GridText(Record):
    """A grid answer in words (the nature of the content, a factor's note): sealed."""

    field: str = classed(DataClass.RECORD, pattern=r"^[a-z_]{1,64}$")
    text: PersonalText = personal("case", None, DataClass.NARRATIVE)


@CATALOGUE.declare("evaluation", "grid_submitted", 1)
class GridSubmitted(EventData):
    """A student's grid. An amendment is a new event naming the one it supersedes, and why."""

    student_ref: StudentRef
    answers: dict[str, Answer] = classed(
        DataClass.GRID, "choice", description="choices, by field id of the protocol version"
    )
    texts: list[GridText] = Field(default_factory=list, max_length=20)
    supersedes: EventId | None = Field(default=None, description="event id of the amended grid")
    reason: PersonalText | None = personal("case", None, DataClass.NARRATIVE, default=None)


@CATALOGUE.declare("evaluation", "grid_draft_saved", 1)
class GridDraftSaved(EventData):
    """A student's grid saved incomplete: kept on the record, listing the required fields
    still unanswered, and not assessed until a complete grid follows."""

    student_ref: StudentRef
    answers: dict[str, Answer] = classed(
        DataClass.GRID, "choice", description="choices, by field id of the protocol version"
    )
    texts: list[GridText] = Field(default_factory=list, max_length=20)
    missing: list[str] = classed(
        DataClass.RECORD,
        min_length=1,
        description="ids of the protocol version's required fields still unanswered",
    )
    supersedes: EventId | None = Field(default=None, description="event id of the earlier draft")


class RuleFired(Record):
    """A rule that applied to a student's answers, and what it read."""

    rule_id: str = classed(DataClass.OUTCOME)
    field: str = classed(DataClass.RECORD)
    read: list[str] = classed(DataClass.GRID, "choice")
    fr: str = classed(DataClass.OUTCOME)
    en: str = classed(DataClass.OUTCOME)


class StudentIndicationV1(Record):
    """One student's preliminary indication, as assessment v1 shaped it (no track)."""

    student_ref: StudentRef
    grid_event_id: EventId
    indication: str = classed(DataClass.OUTCOME, pattern=r"^(malicious|impulsive|undetermined)$")
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    escalate: bool = classed(DataClass.OUTCOME)
    fired: list[RuleFired]


@CATALOGUE.declare("evaluation", "assessment_made", 1)
class AssessmentMadeV1(EventData):
    """First shape of an assessment (no tracks, no warnings): kept only to read events
    written in it."""

    students: list[StudentIndicationV1] = Field(min_length=1)
    recommendation: str = classed(DataClass.OUTCOME, pattern=r"^[a-z_]{1,64}$")
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    recommendation_fr: str = classed(DataClass.OUTCOME)
    recommendation_en: str = classed(DataClass.OUTCOME)


class StudentIndication(Record):
    """One student's track and preliminary indication: only an offender gets one (a victim
    or a witness is `not_applicable`)."""

    student_ref: StudentRef
    grid_event_id: EventId
    track: str | None = classed(
        DataClass.OUTCOME,
        default=None,
        pattern=r"^(offender|victim|witness)$",
        description="offender, victim or witness; null on assessments made before tracks",
    )
    indication: str = classed(
        DataClass.OUTCOME, pattern=r"^(malicious|impulsive|undetermined|not_applicable)$"
    )
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    escalate: bool = classed(DataClass.OUTCOME)
    fired: list[RuleFired]


class GridWarning(Record):
    """Something the intervener must look at, never settled silently: reported ages that
    contradict an age answer, or a student found in an earlier case. Fixed wording per code;
    what was expected and what the grid answers are grid data."""

    code: str = classed(
        DataClass.GRID,
        "choice",
        pattern=r"^(age_gap_differs|age_band_differs|prior_involvement_found)$",
    )
    student_ref: StudentRef
    field: str | None = classed(DataClass.RECORD, default=None, pattern=r"^[a-z_]{1,64}$")
    expected: str | None = classed(
        DataClass.GRID, "choice", default=None, description="what the facts on the case say"
    )
    answered: Answer | None = classed(
        DataClass.GRID, "choice", default=None, description="the grid's answer, null if none"
    )
    fr: str = classed(DataClass.GRID, "choice")
    en: str = classed(DataClass.GRID, "choice")


@CATALOGUE.declare("evaluation", "assessment_made", 2)
class AssessmentMade(EventData):
    """Every student has a complete grid: each student's track and indication, the case's
    recommendation (under the rules' version), and the warnings left for the intervener."""

    students: list[StudentIndication] = Field(min_length=1)
    recommendation: str = classed(DataClass.OUTCOME, pattern=r"^[a-z_]{1,64}$")
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    recommendation_fr: str = classed(DataClass.OUTCOME)
    recommendation_en: str = classed(DataClass.OUTCOME)
    warnings: list[GridWarning] = Field(default_factory=list, max_length=200)


@CATALOGUE.upcaster(AssessmentMadeV1, AssessmentMade)
def _assessment_made_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Before tracks nobody's track was recorded (null, not guessed); no warning was given.
    data["students"] = [{**s, "track": None} for s in data["students"]]
    data["warnings"] = []
    return data
