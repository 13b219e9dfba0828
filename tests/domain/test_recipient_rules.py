"""Who may be put on a case's recipients, without any server: given the case's events, when
a registration, then the registration, its earlier twin, or the refusal and its kind."""

from __future__ import annotations

import pytest
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import CaseClosed, StudentAdded, StudentRole
from sexto_events.catalogue.notification import RecipientKind, RecipientRegistered
from sexto_events.refusals import Conflict, Invalid, UnknownStudent
from sexto_notification.domain.recipients import (
    CaseRecipients,
    check_recipient_form,
    decide_recipient,
    evolve,
    repeat_of,
)

from tests.support.given import case_reported, state_of, student

PARENT = RecipientRegistered(
    recipient_ref="parent-1",
    kind=RecipientKind.PARENT,
    student_ref="stu-1",
    email="parent@example.org",
)
STAFF = RecipientRegistered(
    recipient_ref="staff-1", kind=RecipientKind.INTERVENER, email="staff@school.example"
)


def case(*facts: EventData) -> CaseRecipients:
    """A case reported with stu-1 and stu-2, then these facts."""
    report = case_reported(("stu-1", StudentRole.DEPICTED), ("stu-2", StudentRole.SENDER))
    return state_of(CaseRecipients(), evolve, report, *facts)


@pytest.mark.parametrize("registration", [PARENT, STAFF], ids=["parent", "staff"])
def test_a_recipient_of_an_open_case_is_registered_as_given(
    registration: RecipientRegistered,
) -> None:
    assert decide_recipient(case(), registration) == registration


def test_a_parent_is_registered_for_one_student() -> None:
    no_student = PARENT.model_copy(update={"student_ref": None})

    for decide in (check_recipient_form, lambda d: decide_recipient(case(), d)):
        with pytest.raises(Invalid) as error:
            decide(no_student)
        assert error.value.kind == "invalid-request"
        assert error.value.detail.startswith("student_ref:")


@pytest.mark.parametrize("kind", [RecipientKind.INTERVENER, RecipientKind.SAFEGUARDING_LEAD])
def test_staff_are_registered_for_no_student(kind: RecipientKind) -> None:
    for_a_student = STAFF.model_copy(update={"kind": kind, "student_ref": "stu-1"})

    with pytest.raises(Invalid) as error:
        decide_recipient(case(), for_a_student)
    assert error.value.kind == "invalid-request"
    assert "only a parent" in error.value.detail


def test_a_parent_of_a_student_not_on_the_case_is_refused() -> None:
    stranger = PARENT.model_copy(update={"student_ref": "stu-9"})

    with pytest.raises(UnknownStudent) as error:
        decide_recipient(case(), stranger)
    assert error.value.kind == "unknown-student"
    assert "stu-9" in error.value.detail


def test_a_parent_of_a_student_added_later_is_accepted() -> None:
    late = PARENT.model_copy(update={"recipient_ref": "parent-3", "student_ref": "stu-3"})
    state = case(StudentAdded(student=student("stu-3", StudentRole.RECEIVER)))

    assert decide_recipient(state, late) == late


def test_a_closed_case_takes_no_one_new() -> None:
    with pytest.raises(Conflict) as error:
        decide_recipient(case(CaseClosed(resolution="resolved")), PARENT)
    assert error.value.kind == "conflict"
    assert "closed" in error.value.detail


def test_the_same_registration_again_is_a_repeat_of_the_first() -> None:
    state = case(PARENT, STAFF)  # evt-2, evt-3

    assert repeat_of(state, PARENT) == "evt-2"
    assert repeat_of(state, STAFF) == "evt-3"
    # Still so once the case is closed: a retry is answered as the first time was.
    assert repeat_of(case(PARENT, CaseClosed(resolution="resolved")), PARENT) == "evt-2"


def test_a_reference_is_one_recipient_other_details_conflict() -> None:
    other_address = PARENT.model_copy(update={"email": "other@example.org"})
    other_student = PARENT.model_copy(update={"student_ref": "stu-2"})
    state = case(PARENT)

    for changed in (other_address, other_student):
        assert repeat_of(state, changed) is None
        with pytest.raises(Conflict) as error:
            decide_recipient(state, changed)
        assert error.value.kind == "conflict"
        assert "parent-1" in error.value.detail


def test_nothing_registered_is_no_repeat() -> None:
    assert repeat_of(case(), PARENT) is None
    assert repeat_of(case(STAFF), PARENT) is None


def test_the_recipients_state_is_the_sum_of_the_case_events() -> None:
    state = case(StudentAdded(student=student("stu-3")), PARENT)

    assert state.students == {"stu-1", "stu-2", "stu-3"}
    assert state.registered == {"parent-1": ("evt-3", PARENT)}
    assert not state.closed
