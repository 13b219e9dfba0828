"""A case as the evaluation sees it, rebuilt from the case's events."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sexto_events.catalogue.evaluation import AssessmentMade, GridSubmitted
from sexto_events.catalogue.intake import CaseClosed, CaseReported, StudentAdded
from sexto_events.model import RecordedEvent


@dataclass(frozen=True)
class EvaluationState:
    """Students in order, the latest grid of each, and the protocol version in force."""

    protocol_version: str = ""
    students: tuple[str, ...] = ()
    grids: dict[str, tuple[str, GridSubmitted]] = field(default_factory=dict)
    closed: bool = False
    assessments: int = 0


def evolve(state: EvaluationState, event: RecordedEvent) -> EvaluationState:
    """The state after one event of the case."""
    data = event.data
    if isinstance(data, CaseReported):
        return replace(
            state,
            protocol_version=event.envelope.protocolversion or "",
            students=tuple(s.student_ref for s in data.students),
        )
    if isinstance(data, StudentAdded):
        return replace(state, students=(*state.students, data.student.student_ref))
    if isinstance(data, GridSubmitted):
        return replace(state, grids={**state.grids, data.student_ref: (event.id, data)})
    if isinstance(data, AssessmentMade):
        return replace(state, assessments=state.assessments + 1)
    if isinstance(data, CaseClosed):
        return replace(state, closed=True)
    return state
