"""A case's state, rebuilt from its events: what the fact decisions need."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sexto_events.catalogue.intake import (
    CaseClosed,
    CaseReported,
    ChecklistStepCompleted,
    DeviceSecured,
    StudentAdded,
    StudentRole,
    StudentRoleChanged,
)
from sexto_events.model import RecordedEvent
from sexto_protocols import lifecycle
from sexto_protocols.lifecycle import CaseLifecycle


@dataclass(frozen=True)
class CaseState:
    """Students and their roles, steps done, seals, and whether the case is closed."""

    protocol: str = ""
    protocol_version: str = ""
    students: dict[str, tuple[str, ...]] = field(default_factory=dict)
    steps_done: frozenset[str] = frozenset()
    seals: frozenset[str] = frozenset()
    closed: bool = False
    # The case's lifecycle across the services (escalation's steps on the case's own
    # stream included): what the closure rule reads (sexto_protocols.lifecycle.pending).
    lifecycle: CaseLifecycle = field(default_factory=CaseLifecycle)


def _roles(roles: list[StudentRole]) -> tuple[str, ...]:
    return tuple(role.value for role in roles)


def evolve(state: CaseState, event: RecordedEvent) -> CaseState:
    """The state after one event."""
    data = event.data
    state = replace(state, lifecycle=lifecycle.evolve(state.lifecycle, data))
    if isinstance(data, CaseReported):
        students = {s.student_ref: _roles(s.roles) for s in data.students}
        return replace(
            state,
            protocol=data.protocol.value,
            protocol_version=event.envelope.protocolversion or "",
            students=students,
        )
    if isinstance(data, StudentAdded):
        return replace(
            state, students={**state.students, data.student.student_ref: _roles(data.student.roles)}
        )
    if isinstance(data, StudentRoleChanged):
        return replace(state, students={**state.students, data.student_ref: _roles(data.roles)})
    if isinstance(data, ChecklistStepCompleted):
        return replace(state, steps_done=state.steps_done | {data.step_id})
    if isinstance(data, DeviceSecured) and data.seal_number:
        return replace(state, seals=state.seals | {data.seal_number})
    if isinstance(data, CaseClosed):
        return replace(state, closed=True)
    return state
