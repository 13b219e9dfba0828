"""A case as the evaluation sees it, rebuilt from the case's events."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sexto_events.catalogue.evaluation import AssessmentMade, GridDraftSaved, GridSubmitted
from sexto_events.catalogue.intake import (
    CaseClosed,
    CaseReported,
    PriorInvolvementNoted,
    StudentAdded,
    StudentInvolved,
    StudentRoleChanged,
)
from sexto_events.model import RecordedEvent


@dataclass(frozen=True)
class EvaluationState:
    """Students in order with their roles and reported ages, each one's latest complete grid
    and any newer draft, the students found in earlier cases, and the protocol version."""

    protocol_version: str = ""
    students: tuple[str, ...] = ()
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ages: dict[str, int | None] = field(default_factory=dict)
    earlier_cases: dict[str, int] = field(default_factory=dict)
    grids: dict[str, tuple[str, GridSubmitted]] = field(default_factory=dict)
    drafts: dict[str, tuple[str, GridDraftSaved]] = field(default_factory=dict)
    closed: bool = False
    assessments: int = 0


def _with_students(state: EvaluationState, students: list[StudentInvolved]) -> EvaluationState:
    return replace(
        state,
        students=(*state.students, *(s.student_ref for s in students)),
        roles={**state.roles, **{s.student_ref: tuple(s.roles) for s in students}},
        ages={**state.ages, **{s.student_ref: s.age for s in students}},
    )


def evolve(state: EvaluationState, event: RecordedEvent) -> EvaluationState:
    """The state after one event of the case."""
    data = event.data
    if isinstance(data, CaseReported):
        reported = replace(state, protocol_version=event.envelope.protocolversion or "")
        return _with_students(reported, data.students)
    if isinstance(data, StudentAdded):
        return _with_students(state, [data.student])
    if isinstance(data, StudentRoleChanged):
        return replace(state, roles={**state.roles, data.student_ref: tuple(data.roles)})
    if isinstance(data, PriorInvolvementNoted):
        return replace(
            state, earlier_cases={**state.earlier_cases, data.student_ref: data.earlier_cases}
        )
    if isinstance(data, GridDraftSaved):
        return replace(state, drafts={**state.drafts, data.student_ref: (event.id, data)})
    if isinstance(data, GridSubmitted):
        drafts = {ref: d for ref, d in state.drafts.items() if ref != data.student_ref}
        return replace(
            state, grids={**state.grids, data.student_ref: (event.id, data)}, drafts=drafts
        )
    if isinstance(data, AssessmentMade):
        return replace(state, assessments=state.assessments + 1)
    if isinstance(data, CaseClosed):
        return replace(state, closed=True)
    return state
