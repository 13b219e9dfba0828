"""Who may be put on a case's recipients: pure, given the case's events.

A parent is registered for one student of the case; staff for none. A closed case takes no
one new. A reference names one recipient: registering it again with the same details is a
retry, with other details a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sexto_events.catalogue.intake import CaseClosed, CaseReported, StudentAdded
from sexto_events.catalogue.notification import RecipientKind, RecipientRegistered
from sexto_events.messages import Message
from sexto_events.model import RecordedEvent
from sexto_events.refusals import Conflict, Invalid, UnknownStudent


@dataclass(frozen=True)
class CaseRecipients:
    """The case's students, whether it is closed, and each recipient's registration."""

    students: frozenset[str] = frozenset()
    closed: bool = False
    registered: dict[str, tuple[str, RecipientRegistered]] = field(default_factory=dict)


def evolve(state: CaseRecipients, event: RecordedEvent) -> CaseRecipients:
    """The recipients' state after one event of the case."""
    data = event.data
    if isinstance(data, CaseReported):
        return replace(state, students=state.students | {s.student_ref for s in data.students})
    if isinstance(data, StudentAdded):
        return replace(state, students=state.students | {data.student.student_ref})
    if isinstance(data, CaseClosed):
        return replace(state, closed=True)
    if isinstance(data, RecipientRegistered):
        return replace(state, registered={**state.registered, data.recipient_ref: (event.id, data)})
    return state


def check_recipient_form(data: RecipientRegistered) -> None:
    """A parent names one student; staff name none."""
    if data.kind is RecipientKind.PARENT and data.student_ref is None:
        raise Invalid(Message("parent-needs-student"))
    if data.kind is not RecipientKind.PARENT and data.student_ref is not None:
        raise Invalid(Message("only-parent-has-student"))


def repeat_of(state: CaseRecipients, data: RecipientRegistered) -> str | None:
    """The id of the same registration already on the case (a retry), if any."""
    earlier = state.registered.get(data.recipient_ref)
    return earlier[0] if earlier is not None and earlier[1] == data else None


def decide_recipient(state: CaseRecipients, data: RecipientRegistered) -> RecipientRegistered:
    """The registration to record, or a refusal saying what to fix."""
    check_recipient_form(data)
    if state.closed:
        raise Conflict(Message("case-closed-recipients"))
    if data.recipient_ref in state.registered:
        raise Conflict(Message("recipient-registered", recipient_ref=data.recipient_ref))
    if data.student_ref is not None and data.student_ref not in state.students:
        raise UnknownStudent(Message("unknown-student-recipient", student_ref=data.student_ref))
    return data
