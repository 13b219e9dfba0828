"""The case's lifecycle, given/when/then, no server: the one status word, what is due before
closing, what stays open after, each student's track in escalation, and every later
assessment followed (sexto_protocols.lifecycle, docs/lifecycle.md)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sexto_escalation.domain.deadlines import breaches
from sexto_escalation.domain.police import reassessment
from sexto_escalation.domain.workflow import (
    ClosedCaseStep,
    Escalation,
    NotDecidedTrack,
    acknowledge,
    decide,
    evolve,
    meeting_held,
    offer_support,
    refer,
    schedule_meeting,
)
from sexto_events.catalogue import CATALOGUE
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationAcknowledged,
    EscalationRequested,
    EscalationRequestedV1,
    EscalationUrgencyChanged,
    KitCollected,
    MeetingHeld,
    ProsecutorConsulted,
    ProsecutorDecided,
    ReassessedStudent,
    ReferralRecorded,
    ReferralRecordedV1,
)
from sexto_events.catalogue.evaluation import (
    AssessmentMade,
    GridsOpened,
    GridSubmitted,
    RuleFired,
    StudentIndication,
)
from sexto_events.catalogue.intake import CaseClosed, Protocol, StudentRole, StudentRoleChanged
from sexto_events.refusals import IllegalStep
from sexto_intake.domain.facts import ClosurePending, decide_fact
from sexto_intake.domain.state import CaseState
from sexto_intake.domain.state import evolve as intake_evolve
from sexto_protocols import lifecycle
from sexto_protocols.lifecycle import OPEN_AFTER_CLOSURE, CaseLifecycle, Status, pending

from tests.support.given import ACTOR, SCHOOL, START, case_reported, state_of

DEPICTED, SENDER = StudentRole.DEPICTED, StudentRole.SENDER
DOCS = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"


def request(protocol: Protocol = Protocol.SEXTO_QC, urgency: str = "high") -> EscalationRequested:
    return EscalationRequested(
        school_id=SCHOOL,
        protocol=protocol.value,
        urgency=urgency,
        students=[
            EscalatedStudent(
                student_ref="victim", roles=[DEPICTED], track="victim", indication="undetermined"
            ),
            EscalatedStudent(
                student_ref="sender", roles=[SENDER], track="offender", indication="impulsive"
            ),
        ],
        seal_numbers=[],
        intervener_ref=ACTOR,
        assessment_event_id="evt-0",
    )


ACKED = EscalationAcknowledged(call_reference="911-1", dispatcher_ref="dispatch-1")
COLLECTED = KitCollected(
    officer_ref="officer-1", seals=[], missing_seals=[], unexpected_seals=[], flagged=False
)
CONSULTED = ProsecutorConsulted(dpcp_file_reference="DPCP-1")
CLOSED = CaseClosed(resolution="handled")


def decided(ref: str = "sender", decision: str = "impulsive") -> ProsecutorDecided:
    follow = {"impulsive": "educational_meeting_required", "malicious": "investigation_opened"}
    return ProsecutorDecided(
        student_ref=ref, decision=decision, reasons="r", follow_up=follow.get(decision, "none")
    )


def held(ref: str) -> MeetingHeld:
    return MeetingHeld(student_ref=ref, attended=["student"])


def escalation(*facts: EventData, protocol: Protocol = Protocol.SEXTO_QC) -> Escalation:
    """A victim (only depicted) and a sender, then these facts."""
    report = case_reported(("victim", DEPICTED), ("sender", SENDER), protocol=protocol)
    return state_of(Escalation(), evolve, report, *facts)


def case(*facts: EventData, protocol: Protocol = Protocol.SEXTO_QC) -> CaseLifecycle:
    report = case_reported(("victim", DEPICTED), ("sender", SENDER), protocol=protocol)
    return lifecycle.fold([report, *facts])


# --- one status word ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        ((), Status.NONE),
        ((request(),), Status.REQUESTED),
        ((request(), ACKED), Status.ACKNOWLEDGED),
        ((request(), ACKED, COLLECTED), Status.KIT_COLLECTED),
        ((request(), ACKED, COLLECTED, CONSULTED), Status.PROSECUTOR_CONSULTED),
        ((request(), ACKED, COLLECTED, CONSULTED, decided()), Status.DECIDED),
        ((CLOSED,), Status.CLOSED),
        (
            (request(), ACKED, COLLECTED, CONSULTED, decided(), held("sender"), CLOSED),
            Status.CLOSED,
        ),
    ],
    ids=["none", "requested", "acknowledged", "kit", "consulted", "decided", "closed", "done"],
)
def test_the_status_word_follows_the_milestones(
    facts: tuple[EventData, ...], status: Status
) -> None:
    assert lifecycle.status(case(*facts)) is status
    assert escalation(*facts).status is status  # escalation says the same word


def test_a_victim_is_never_waited_for_the_decided_status_needs_offenders_only() -> None:
    state = case(request(), ACKED, COLLECTED, CONSULTED)

    assert state.decisions_expected() == ["sender"]
    assert lifecycle.status(lifecycle.evolve(state, decided())) is Status.DECIDED


def test_a_role_correction_moves_a_student_onto_the_offender_track() -> None:
    corrected = StudentRoleChanged(student_ref="victim", roles=[DEPICTED, SENDER], reason="r")
    state = case(request(), ACKED, COLLECTED, CONSULTED, decided(), corrected)

    assert state.undecided() == ["victim"]
    assert lifecycle.status(state) is Status.PROSECUTOR_CONSULTED


def test_the_lifecycle_round_trips_through_json() -> None:
    state = case(request(), ACKED, decided(), held("sender"))

    assert CaseLifecycle.from_json(state.to_json()) == state


def test_the_docs_use_every_status_word_and_name_what_stays_open() -> None:
    text = DOCS.read_text(encoding="utf-8")

    for word in Status:
        assert re.search(rf"\b{word.value}\b", text), word
    for step in OPEN_AFTER_CLOSURE:
        assert step in text


# --- what is due before closing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "due"),
    [
        ((), []),
        ((request(),), ["acknowledge", "collect_kit", "consult_prosecutor", "decide:sender"]),
        ((request(), ACKED, COLLECTED, CONSULTED), ["decide:sender"]),
        ((request(), ACKED, COLLECTED, CONSULTED, decided()), ["hold_meeting:sender"]),
        ((request(), ACKED, COLLECTED, CONSULTED, decided("sender", "malicious")), []),
        ((request(), ACKED, COLLECTED, CONSULTED, decided(), held("sender")), []),
    ],
    ids=["never-escalated", "requested", "consulted", "impulsive", "malicious", "met"],
)
def test_a_sexto_case_owes_the_police_steps_decisions_and_meetings(
    facts: tuple[EventData, ...], due: list[str]
) -> None:
    assert pending(case(*facts)) == due


def test_a_uk_case_with_a_risk_factor_owes_a_referral() -> None:
    uk = Protocol.UK_DSL
    police = ReferralRecorded(agency="police", reference="P-1")

    assert pending(case(request(uk), protocol=uk)) == ["refer"]
    assert pending(case(request(uk), police, protocol=uk)) == []
    assert pending(case(protocol=uk)) == []  # no factor: managed in school, nothing owed


def test_intake_refuses_to_close_while_steps_are_due_listing_them() -> None:
    due = state_of(CaseState(), intake_evolve, case_reported(("sender", SENDER)), request())
    done = state_of(
        CaseState(), intake_evolve, case_reported(("sender", SENDER)), request(), ACKED,
        COLLECTED, CONSULTED, decided("sender", "no_further_action"),
    )  # fmt: skip

    with pytest.raises(ClosurePending) as refused:
        decide_fact(due, CLOSED)
    assert refused.value.extra["pending"] == [
        "acknowledge", "collect_kit", "consult_prosecutor", "decide:sender"
    ]  # fmt: skip
    assert decide_fact(done, CLOSED) == CLOSED


# --- after closure ------------------------------------------------------------------------


def test_after_closure_only_what_the_law_keeps_open_is_recorded() -> None:
    closed = escalation(request(Protocol.UK_DSL), CLOSED, protocol=Protocol.UK_DSL)

    for step in (
        lambda: acknowledge(closed, "911-2", "dispatch-1"),
        lambda: refer(closed, "police", "P-2"),
        lambda: schedule_meeting(closed, "victim", START),
        lambda: meeting_held(closed, "victim", ["student"]),
    ):
        with pytest.raises(ClosedCaseStep) as refused:
            step()
        assert refused.value.kind == "case-closed"
        assert refused.value.extra["open_after_closure"] == ["decide", "offer_support"]
    assert offer_support(closed, "victim", "image_removal", "C3P-1").kind == "image_removal"


def test_a_prosecutors_decision_stays_recordable_after_closure() -> None:
    # Closed on a state that missed the consultation's decision (the DPCP decides on its
    # own time): the decision is still recorded.
    state = escalation(request(), ACKED, COLLECTED, CONSULTED, CLOSED)

    assert decide(state, "sender", "malicious", "r").follow_up == "investigation_opened"


def test_nothing_is_overdue_on_a_closed_case() -> None:
    state = escalation(request(), CLOSED)

    assert breaches(state, limits=LIMITS, now=START + timedelta(days=3)) == []


# --- each student's track in escalation ---------------------------------------------------


def test_a_victim_is_never_decided_about_and_the_refusal_says_why() -> None:
    state = escalation(request(), ACKED, COLLECTED, CONSULTED)

    with pytest.raises(NotDecidedTrack) as refused:
        decide(state, "victim", "impulsive", "r")
    assert refused.value.allowed == ["decide for sender"]
    assert "victim track" in refused.value.detail


def test_a_victim_is_met_once_escalated_without_any_decision() -> None:
    state = escalation(request())

    assert schedule_meeting(state, "victim", START).student_ref == "victim"
    with pytest.raises(IllegalStep):
        schedule_meeting(state, "sender", START)  # an offender's meeting follows a decision
    with pytest.raises(IllegalStep):
        schedule_meeting(escalation(), "victim", START)  # not escalated


def test_support_is_a_reference_each_kind_once_per_student() -> None:
    offered = offer_support(escalation(request()), "victim", "victim_assistance", "CAVAC-1")
    state = escalation(request(), offered)

    with pytest.raises(IllegalStep):
        offer_support(state, "victim", "victim_assistance", "CAVAC-2")
    assert offer_support(state, "victim", "image_removal", "C3P-1").reference == "C3P-1"
    assert offer_support(state, "sender", "counselling", "CLSC-1").student_ref == "sender"
    # Escalated or not: a victim of a case the school manages is offered support too.
    assert offer_support(escalation(), "victim", "counselling", "CLSC-1").kind == "counselling"
    with pytest.raises(IllegalStep):
        offer_support(escalation(), "nobody", "counselling", "CLSC-1")  # not of the case


def test_a_first_shape_request_is_read_with_roles_from_the_joined_role() -> None:
    old = EscalationRequestedV1.model_validate(
        {**request().model_dump(mode="json"), "students": [
            {"student_ref": "s1", "role": "depicted+sender", "indication": "impulsive"},
            {"student_ref": "s2", "role": "unknown", "indication": "impulsive"},
        ]}
    )  # fmt: skip

    type_name, data = CATALOGUE.upcast(old.type_name(), old.model_dump(mode="json"))
    upcast = EscalationRequested.model_validate(data)

    assert type_name == EscalationRequested.type_name()
    assert [(s.roles, s.track) for s in upcast.students] == [([DEPICTED, SENDER], None), ([], None)]


def test_a_first_shape_referral_is_read_without_an_agency_name() -> None:
    old = ReferralRecordedV1(agency="police", reference="P-1")

    _, data = CATALOGUE.upcast(old.type_name(), old.model_dump(mode="json"))

    assert ReferralRecorded.model_validate(data).agency_name is None


# --- every later assessment followed ------------------------------------------------------


def assessed(
    urgency: str, recommendation: str = "police_referral", **indications: str
) -> AssessmentMade:
    fired = [RuleFired(rule_id="recidivism", field="prior_incidents", read=["yes"], fr="f", en="e")]
    return AssessmentMade(
        students=[
            StudentIndication(
                student_ref=ref,
                grid_event_id="g",
                indication=indication,
                urgency=urgency,
                escalate=True,
                fired=fired,
            )
            for ref, indication in (
                {"victim": "undetermined", "sender": "impulsive"} | indications
            ).items()
        ],
        recommendation=recommendation,
        urgency=urgency,
        recommendation_fr="f",
        recommendation_en="e",
    )


def test_the_assessment_that_asked_changes_nothing() -> None:
    assert reassessment(escalation(request()), assessed("high"), "evt-9") is None
    assert reassessment(escalation(), assessed("urgent"), "evt-9") is None  # not escalated


def test_a_raised_urgency_is_recorded_with_the_rules_that_fired() -> None:
    change = reassessment(escalation(request()), assessed("urgent", sender="malicious"), "evt-9")

    assert change is not None
    assert (change.previous_urgency, change.urgency, change.change) == ("high", "urgent", "raised")
    assert change.assessment_event_id == "evt-9"
    sender = next(s for s in change.students if s.student_ref == "sender")
    assert (sender.indication, sender.rules_fired) == ("malicious", ["recidivism"])


def test_a_lower_urgency_or_no_more_police_is_recorded_too_and_the_request_stands() -> None:
    lower = reassessment(escalation(request()), assessed("routine"), "evt-9")
    school = reassessment(escalation(request()), assessed("high", "manage_in_school"), "evt-9")

    assert lower is not None
    assert lower.change == "lowered"
    assert school is not None
    assert (school.change, school.calls_for_police) == ("unchanged", False)
    state = escalation(request(), school)
    assert state.requested
    assert state.status is Status.REQUESTED
    assert reassessment(state, assessed("high", "manage_in_school"), "evt-10") is None


def test_nothing_follows_an_assessment_on_a_closed_case() -> None:
    assert reassessment(escalation(request(), CLOSED), assessed("urgent"), "evt-9") is None


LIMITS = {
    "acknowledge": {"urgent": 300.0, "high": 900.0, "routine": 3600.0},
    "collect_kit": {"urgent": 1800.0, "high": 3600.0, "routine": 86400.0},
}


def test_a_raised_urgency_re_arms_the_deadlines_earlier() -> None:
    # Given a routine request (event 2) raised to urgent (event 3, at START + 3 min).
    state = escalation(request(urgency="routine"), reassessment_of("routine", "urgent"))
    changed_at = START + timedelta(minutes=3)

    found = breaches(state, limits=LIMITS, now=changed_at + timedelta(minutes=6))

    assert [(b.step, b.urgency, b.deadline) for b in found] == [
        ("acknowledge", "urgent", changed_at + timedelta(minutes=5))
    ]


def test_a_lowered_urgency_never_pushes_a_deadline_back() -> None:
    state = escalation(request(urgency="urgent"), reassessment_of("urgent", "routine"))
    asked_at = START + timedelta(minutes=2)

    found = breaches(state, limits=LIMITS, now=asked_at + timedelta(minutes=6))

    assert [(b.step, b.deadline) for b in found] == [
        ("acknowledge", asked_at + timedelta(minutes=5))
    ]


def reassessment_of(before: str, after: str) -> EscalationUrgencyChanged:
    rank = ["routine", "high", "urgent"]
    move = rank.index(after) - rank.index(before)
    return EscalationUrgencyChanged(
        previous_urgency=before,
        urgency=after,
        change="raised" if move > 0 else "lowered" if move < 0 else "unchanged",
        recommendation="police_referral",
        calls_for_police=True,
        students=[
            ReassessedStudent(
                student_ref="sender",
                indication="malicious",
                urgency=after,
                rules_fired=["recidivism"],
            )
        ],
        assessment_event_id="evt-9",
    )


def lifecycle_of(*events: EventData) -> CaseLifecycle:
    return lifecycle.fold(list(events))


def with_tracks(made: AssessmentMade, **tracks: str) -> AssessmentMade:
    students = [s.model_copy(update={"track": tracks.get(s.student_ref)}) for s in made.students]
    return made.model_copy(update={"students": students})


def test_given_an_assessment_calling_the_police_not_yet_followed_then_closing_waits() -> None:
    state = lifecycle_of(case_reported(("sender", SENDER)), assessed("high", sender="malicious"))

    assert pending(state) == ["escalation_request"]
    assert pending(lifecycle.evolve(state, request())) != []  # then the police's steps


def test_given_a_grid_still_open_then_closing_waits_for_it() -> None:
    opened = lifecycle_of(case_reported(("sender", SENDER)), GridsOpened(student_refs=["sender"]))
    graded = lifecycle.evolve(
        opened, GridSubmitted(student_ref="sender", answers={"trigger": "joke"})
    )

    assert pending(opened) == ["grid:sender"]
    assert pending(graded) == []


def test_given_the_assessment_made_a_receiver_an_offender_then_a_decision_is_expected() -> None:
    # Received only (a witness by roles), but the grid says they coerced someone.
    state = lifecycle_of(
        case_reported(("receiver", StudentRole.RECEIVER)),
        with_tracks(assessed("urgent", receiver="malicious"), receiver="offender",
                    victim="victim", sender="offender"),
        request(),
    )  # fmt: skip

    assert state.track("receiver").value == "offender"
    assert "receiver" in state.undecided()
