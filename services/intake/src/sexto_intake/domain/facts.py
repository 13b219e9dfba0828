"""Deciding the facts added to an open case: pure, given its state."""

from __future__ import annotations

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import (
    CaseClosed,
    ChecklistStepCompleted,
    DeviceSecured,
    StudentAdded,
    StudentRoleChanged,
)
from sexto_events.messages import Message
from sexto_events.refusals import Conflict
from sexto_protocols import by_id
from sexto_protocols.lifecycle import pending

from sexto_intake.domain.errors import (
    CaseAlreadyClosed,
    InvalidCommand,
    UnknownStep,
    UnknownStudent,
)
from sexto_intake.domain.state import CaseState


class ClosurePending(Conflict):
    """Closing a case while escalation steps are due (409, listing them)."""

    kind = "closure-pending"

    def __init__(self, due: list[str]) -> None:
        super().__init__(Message("closure-pending", pending=", ".join(due)), pending=due)


def decide_fact(state: CaseState, fact: EventData) -> EventData:
    """The fact as recorded, or a refusal saying what to fix."""
    if state.closed:
        raise CaseAlreadyClosed(Message("case-closed"))
    if isinstance(fact, CaseClosed) and (due := pending(state.lifecycle)):
        raise ClosurePending(due)
    if isinstance(fact, StudentAdded) and fact.student.student_ref in state.students:
        raise InvalidCommand(
            Message("student-already-on-case", student_ref=fact.student.student_ref)
        )
    if isinstance(fact, StudentRoleChanged | DeviceSecured):
        ref = fact.student_ref if isinstance(fact, StudentRoleChanged) else fact.owner_ref
        if ref not in state.students:
            raise UnknownStudent(
                Message("unknown-student", student_ref=ref, known=sorted(state.students))
            )
    if isinstance(fact, DeviceSecured) and fact.seal_number in state.seals:
        raise InvalidCommand(Message("seal-already-recorded", seal=fact.seal_number))
    if isinstance(fact, ChecklistStepCompleted):
        protocol = by_id(state.protocol_version)
        if protocol is None or protocol.step(fact.step_id) is None:
            steps = [s.id for s in protocol.checklist] if protocol else []
            raise UnknownStep(Message("unknown-step", step=fact.step_id, steps=steps))
    return fact
