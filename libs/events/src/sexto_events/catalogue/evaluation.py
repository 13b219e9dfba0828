"""Events of the evaluation context: one grid per student, and the assessment."""

from __future__ import annotations

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


class RuleFired(Record):
    """A rule that applied to a student's answers, and what it read."""

    rule_id: str = classed(DataClass.OUTCOME)
    field: str = classed(DataClass.RECORD)
    read: list[str] = classed(DataClass.GRID, "choice")
    fr: str = classed(DataClass.OUTCOME)
    en: str = classed(DataClass.OUTCOME)


class StudentIndication(Record):
    """One student's preliminary indication."""

    student_ref: StudentRef
    grid_event_id: EventId
    indication: str = classed(DataClass.OUTCOME, pattern=r"^(malicious|impulsive|undetermined)$")
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    escalate: bool = classed(DataClass.OUTCOME)
    fired: list[RuleFired]


@CATALOGUE.declare("evaluation", "assessment_made", 1)
class AssessmentMade(EventData):
    """Every student has a grid: indications, the case's recommendation, the rules' version."""

    students: list[StudentIndication] = Field(min_length=1)
    recommendation: str = classed(DataClass.OUTCOME, pattern=r"^[a-z_]{1,64}$")
    urgency: str = classed(DataClass.OUTCOME, pattern=r"^(routine|high|urgent)$")
    recommendation_fr: str = classed(DataClass.OUTCOME)
    recommendation_en: str = classed(DataClass.OUTCOME)
