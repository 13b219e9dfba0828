"""Events of the evaluation context: one grid per student, and the assessment."""

from __future__ import annotations

from pydantic import Field

from sexto_events.catalogue.base import EventData, PersonalText, Record, Ref, personal
from sexto_events.catalogue.registry import CATALOGUE

Answer = str | list[str]


@CATALOGUE.declare("evaluation", "grids_opened", 1)
class GridsOpened(EventData):
    """Pending grids: one per student, under the case's protocol version."""

    student_refs: list[Ref] = Field(min_length=1, max_length=50)


class GridText(Record):
    """A grid answer in words (the nature of the content, a factor's note): sealed."""

    field: str = Field(pattern=r"^[a-z_]{1,64}$")
    text: PersonalText = personal("case", None)


@CATALOGUE.declare("evaluation", "grid_submitted", 1)
class GridSubmitted(EventData):
    """A student's grid. An amendment is a new event naming the one it supersedes, and why."""

    student_ref: Ref
    answers: dict[str, Answer] = Field(description="choices, by field id of the protocol version")
    texts: list[GridText] = Field(default_factory=list, max_length=20)
    supersedes: str | None = Field(default=None, description="event id of the amended grid")
    reason: PersonalText | None = personal("case", None, default=None)


class RuleFired(Record):
    """A rule that applied to a student's answers, and what it read."""

    rule_id: str
    field: str
    read: list[str]
    fr: str
    en: str


class StudentIndication(Record):
    """One student's preliminary indication."""

    student_ref: Ref
    grid_event_id: str
    indication: str = Field(pattern=r"^(malicious|impulsive|undetermined)$")
    urgency: str = Field(pattern=r"^(routine|high|urgent)$")
    escalate: bool
    fired: list[RuleFired]


@CATALOGUE.declare("evaluation", "assessment_made", 1)
class AssessmentMade(EventData):
    """Every student has a grid: indications, the case's recommendation, the rules' version."""

    students: list[StudentIndication] = Field(min_length=1)
    recommendation: str = Field(pattern=r"^[a-z_]{1,64}$")
    urgency: str = Field(pattern=r"^(routine|high|urgent)$")
    recommendation_fr: str
    recommendation_en: str
