"""Escalation's rules without any server: the workflow's steps, the custody check, the
prosecutor's decisions, referrals, meetings, when police are called and the deadlines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sexto_escalation.domain.deadlines import PENDING, breaches
from sexto_escalation.domain.police import calls_for_police, escalation_request
from sexto_escalation.domain.workflow import (
    Escalation,
    Step,
    acknowledge,
    collect_kit,
    consult,
    decide,
    evolve,
    meeting_held,
    refer,
    schedule_meeting,
)
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationAcknowledged,
    EscalationOverdue,
    EscalationRequested,
    KitCollected,
    MeetingHeld,
    MeetingScheduled,
    ProsecutorConsulted,
    ProsecutorDecided,
    ReferralRecorded,
    SealCheck,
)
from sexto_events.catalogue.evaluation import AssessmentMade, StudentIndication
from sexto_events.catalogue.intake import DeviceSecured, Protocol, StudentAdded, StudentRole
from sexto_events.refusals import IllegalStep
from sexto_protocols.lifecycle import CaseLifecycle

from tests.support.given import ACTOR, SCHOOL, START, case_reported, state_of, student

SENDER, PRODUCER = StudentRole.SENDER, StudentRole.PRODUCER
MEETING_AT = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def sealed(owner: str, seal: str) -> DeviceSecured:
    return DeviceSecured(owner_ref=owner, measure="switched_off", seal_number=seal)


def requested(
    protocol: Protocol = Protocol.SEXTO_QC, urgency: str = "urgent"
) -> EscalationRequested:
    return EscalationRequested(
        school_id=SCHOOL,
        protocol=protocol.value,
        urgency=urgency,
        students=[EscalatedStudent(student_ref="stu-1", roles=["sender"], indication="impulsive")],
        seal_numbers=["B-0001", "B-0002"],
        intervener_ref=ACTOR,
        assessment_event_id="evt-4",
    )


ACKED = EscalationAcknowledged(call_reference="911-0001", dispatcher_ref="dispatch-3")
COLLECTED = KitCollected(
    officer_ref="officer-12", seals=[], missing_seals=[], unexpected_seals=[], flagged=False
)
CONSULTED = ProsecutorConsulted(dpcp_file_reference="DPCP-2026-0001")


def decided(ref: str, decision: str = "impulsive") -> ProsecutorDecided:
    follow_up = {"impulsive": "educational_meeting_required", "malicious": "investigation_opened"}
    return ProsecutorDecided(
        student_ref=ref,
        decision=decision,
        reasons="the prosecutor's reasons",
        follow_up=follow_up.get(decision, "none"),
    )


def case(*facts: EventData, protocol: Protocol = Protocol.SEXTO_QC) -> Escalation:
    """stu-1 (sender) and stu-2 (producer), each phone sealed, then these facts."""
    report = case_reported(("stu-1", SENDER), ("stu-2", PRODUCER), protocol=protocol)
    devices = (sealed("stu-1", "B-0001"), sealed("stu-2", "B-0002"))
    return state_of(Escalation(), evolve, report, *devices, *facts)


CONSULTED_CASE = (requested(), ACKED, COLLECTED, CONSULTED)
BOTH_DECIDED = (*CONSULTED_CASE, decided("stu-1"), decided("stu-2", "malicious"))

# Where the case stands, what is allowed next, and the queue's label for it.
STAGES: list[tuple[str, tuple[EventData, ...], list[Step], str]] = [
    ("reported", (), [], "none"),
    ("requested", (requested(),), [Step.ACKNOWLEDGE], "requested"),
    ("acknowledged", (requested(), ACKED), [Step.COLLECT_KIT], "acknowledged"),
    ("collected", (requested(), ACKED, COLLECTED), [Step.CONSULT_PROSECUTOR], "kit_collected"),
    ("consulted", CONSULTED_CASE, [Step.DECIDE], "prosecutor_consulted"),
    ("one-decided", (*CONSULTED_CASE, decided("stu-1")), [Step.DECIDE], "prosecutor_consulted"),
    ("decided", BOTH_DECIDED, [], "decided"),
]

INTACT = [
    SealCheck(seal_number="B-0001", intact=True),
    SealCheck(seal_number="B-0002", intact=True),
]

TAKE: dict[Step, Callable[[Escalation], EventData]] = {
    Step.ACKNOWLEDGE: lambda s: acknowledge(s, "911-0001", "dispatch-3"),
    Step.COLLECT_KIT: lambda s: collect_kit(s, "officer-12", INTACT),
    Step.CONSULT_PROSECUTOR: lambda s: consult(s, "DPCP-2026-0001"),
    Step.DECIDE: lambda s: decide(s, "stu-2", "impulsive", "a first, impulsive exchange"),
}


@pytest.mark.parametrize(
    ("facts", "allowed", "status"),
    [stage[1:] for stage in STAGES],
    ids=[stage[0] for stage in STAGES],
)
def test_the_workflow_allows_one_step_at_a_time(
    facts: tuple[EventData, ...], allowed: list[Step], status: str
) -> None:
    state = case(*facts)

    assert state.allowed() == allowed
    assert state.status == status


@pytest.mark.parametrize("step", list(Step))
@pytest.mark.parametrize(
    ("facts", "allowed"),
    [(stage[1], stage[2]) for stage in STAGES],
    ids=[stage[0] for stage in STAGES],
)
def test_a_step_is_taken_only_when_allowed_and_a_refusal_lists_what_is(
    facts: tuple[EventData, ...], allowed: list[Step], step: Step
) -> None:
    state = case(*facts)

    if step in allowed:
        assert TAKE[step](state)
        return
    with pytest.raises(IllegalStep) as error:
        TAKE[step](state)
    assert error.value.kind == "illegal-step"
    assert error.value.allowed == [s.value for s in allowed]
    assert f"'{state.status}'" in error.value.detail


def test_the_events_returned_carry_the_step_details() -> None:
    assert acknowledge(case(requested()), "911-0001", "dispatch-3") == ACKED
    assert consult(case(requested(), ACKED, COLLECTED), "DPCP-2026-0001") == CONSULTED


# --- custody of the kit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("handed", "missing", "unexpected", "flagged"),
    [
        ([("B-0001", True), ("B-0002", True)], [], [], False),
        ([("B-0002", True), ("B-0001", True)], [], [], False),
        ([("B-0001", True)], ["B-0002"], [], True),
        ([], ["B-0001", "B-0002"], [], True),
        ([("B-0001", True), ("B-0002", True), ("B-0777", True)], [], ["B-0777"], True),
        ([("B-0001", True), ("B-0002", False)], [], [], True),
        ([("B-0002", False), ("B-0777", True)], ["B-0001"], ["B-0777"], True),
    ],
    ids=["all", "any-order", "one-missing", "none-handed", "unexpected", "broken", "all-wrong"],
)
def test_the_officer_checks_each_seal_against_the_devices_secured(
    handed: list[tuple[str, bool]], missing: list[str], unexpected: list[str], flagged: bool
) -> None:
    seals = [SealCheck(seal_number=n, intact=ok) for n, ok in handed]

    collected = collect_kit(case(requested(), ACKED), "officer-12", seals)

    assert collected == KitCollected(
        officer_ref="officer-12",
        seals=seals,
        missing_seals=missing,
        unexpected_seals=unexpected,
        flagged=flagged,
    )


def test_a_device_secured_without_a_bag_expects_no_seal() -> None:
    unbagged = DeviceSecured(owner_ref="stu-1", measure="flight_mode")
    report = case_reported(("stu-1", SENDER))
    state = state_of(Escalation(), evolve, report, unbagged, requested(), ACKED)

    collected = collect_kit(state, "officer-12", [])

    assert state.seals == ()
    assert not collected.flagged


# --- the prosecutor's decisions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "follow_up"),
    [
        ("impulsive", "educational_meeting_required"),
        ("malicious", "investigation_opened"),
        ("no_further_action", "none"),
    ],
)
def test_each_decision_has_its_follow_up(decision: str, follow_up: str) -> None:
    recorded = decide(case(*CONSULTED_CASE), "stu-1", decision, "the reasons")

    assert recorded == ProsecutorDecided(
        student_ref="stu-1", decision=decision, reasons="the reasons", follow_up=follow_up
    )


def test_a_student_is_decided_once() -> None:
    state = case(*CONSULTED_CASE, decided("stu-1"))

    with pytest.raises(IllegalStep) as error:
        decide(state, "stu-1", "malicious", "second thoughts")
    assert "already has a decision" in error.value.detail
    assert error.value.allowed == ["decide for stu-2"]


def test_a_decision_names_a_student_of_the_case() -> None:
    with pytest.raises(IllegalStep) as error:
        decide(case(*CONSULTED_CASE), "stu-9", "impulsive", "reasons")
    assert "stu-9" in error.value.detail
    assert error.value.allowed == ["decide for stu-1", "decide for stu-2"]


def test_a_student_added_before_the_decisions_needs_one_too() -> None:
    added = StudentAdded(student=student("stu-3", StudentRole.REDISTRIBUTOR))
    state = case(*CONSULTED_CASE, added, decided("stu-1"), decided("stu-2"))

    assert state.status == "prosecutor_consulted"
    assert state.allowed() == [Step.DECIDE]
    assert decide(state, "stu-3", "impulsive", "reasons").student_ref == "stu-3"


# --- UK referrals -----------------------------------------------------------------------


@pytest.mark.parametrize("agency", ["police", "childrens_social_care"])
def test_an_escalated_uk_case_is_referred(agency: str) -> None:
    state = case(requested(Protocol.UK_DSL), protocol=Protocol.UK_DSL)

    assert refer(state, agency, "REF-1") == ReferralRecorded(agency=agency, reference="REF-1")


@pytest.mark.parametrize(
    ("facts", "protocol"),
    [((), Protocol.UK_DSL), ((requested(),), Protocol.SEXTO_QC)],
    ids=["uk-not-escalated", "sexto"],
)
def test_a_referral_needs_an_escalated_uk_case(
    facts: tuple[EventData, ...], protocol: Protocol
) -> None:
    with pytest.raises(IllegalStep) as error:
        refer(case(*facts, protocol=protocol), "police", "REF-1")
    assert error.value.allowed == []
    assert "escalated UK case" in error.value.detail


def test_the_same_agency_is_not_referred_twice() -> None:
    referred = ReferralRecorded(agency="police", reference="REF-1")
    state = case(requested(Protocol.UK_DSL), referred, protocol=Protocol.UK_DSL)

    with pytest.raises(IllegalStep) as error:
        refer(state, "police", "REF-2")
    assert "already referred (police)" in error.value.detail


def test_a_uk_case_is_referred_to_several_agencies() -> None:
    police = ReferralRecorded(agency="police", reference="REF-1")
    state = case(requested(Protocol.UK_DSL), police, protocol=Protocol.UK_DSL)

    social_care = refer(state, "childrens_social_care", "CSC-118")
    other = refer(state, "other", "CAMHS-7", agency_name="camhs")
    state = case(requested(Protocol.UK_DSL), police, social_care, other, protocol=Protocol.UK_DSL)

    assert (social_care.agency, other.agency_name) == ("childrens_social_care", "camhs")
    assert state.referrals == ("police", "childrens_social_care", "other")
    with pytest.raises(IllegalStep):
        refer(state, "other", "CAMHS-8", agency_name="camhs")
    assert refer(state, "other", "NSPCC-1", agency_name="nspcc").agency_name == "nspcc"


@pytest.mark.parametrize(("agency", "name"), [("other", None), ("police", "camhs")])
def test_another_agency_is_named_and_only_it(agency: str, name: str | None) -> None:
    state = case(requested(Protocol.UK_DSL), protocol=Protocol.UK_DSL)

    with pytest.raises(IllegalStep) as error:
        refer(state, agency, "REF-1", agency_name=name)
    assert "agency_name" in error.value.detail


# --- educational meetings ---------------------------------------------------------------

DECIDED_APART = BOTH_DECIDED  # stu-1 impulsive, stu-2 malicious


def test_a_meeting_is_scheduled_after_an_impulsive_decision() -> None:
    assert schedule_meeting(case(*DECIDED_APART), "stu-1", MEETING_AT) == MeetingScheduled(
        student_ref="stu-1", at=MEETING_AT
    )


@pytest.mark.parametrize(
    ("facts", "ref", "allowed"),
    [
        (CONSULTED_CASE, "stu-1", []),
        (DECIDED_APART, "stu-2", ["meeting for stu-1"]),
        (DECIDED_APART, "stu-9", ["meeting for stu-1"]),
    ],
    ids=["not-decided", "malicious", "unknown"],
)
def test_no_meeting_without_an_impulsive_decision(
    facts: tuple[EventData, ...], ref: str, allowed: list[str]
) -> None:
    for attempt in (
        lambda s: schedule_meeting(s, ref, MEETING_AT),
        lambda s: meeting_held(s, ref, ["student", "parent"]),
    ):
        with pytest.raises(IllegalStep) as error:
            attempt(case(*facts))
        assert error.value.allowed == allowed
        assert "impulsive decision" in error.value.detail


def test_a_meeting_is_scheduled_before_it_is_held() -> None:
    with pytest.raises(IllegalStep) as error:
        meeting_held(case(*DECIDED_APART), "stu-1", ["student", "parent"])
    assert error.value.allowed == ["schedule the meeting"]


def test_a_meeting_is_held_once() -> None:
    scheduled = MeetingScheduled(student_ref="stu-1", at=MEETING_AT)
    state = case(*DECIDED_APART, scheduled)

    held = meeting_held(state, "stu-1", ["student", "parent"])
    assert held == MeetingHeld(student_ref="stu-1", attended=["student", "parent"])
    with pytest.raises(IllegalStep) as error:
        meeting_held(case(*DECIDED_APART, scheduled, held), "stu-1", ["student"])
    assert error.value.allowed == []
    assert "already held" in error.value.detail


# --- does an assessment call for the police ---------------------------------------------


def indicated(ref: str, indication: str, urgency: str) -> StudentIndication:
    return StudentIndication(
        student_ref=ref,
        grid_event_id=f"grid-{ref}",
        indication=indication,
        urgency=urgency,
        escalate=True,
        fired=[],
    )


def assessment(recommendation: str = "police_referral", urgency: str = "urgent") -> AssessmentMade:
    return AssessmentMade(
        students=[
            indicated("stu-1", "impulsive", urgency),
            indicated("stu-2", "malicious", urgency),
        ],
        recommendation=recommendation,
        urgency=urgency,
        recommendation_fr="texte",
        recommendation_en="text",
    )


@pytest.mark.parametrize(
    ("recommendation", "calls"),
    [
        ("police_referral", True),
        ("escalate_to_police_or_social_care", True),
        ("manage_in_school", False),
    ],
)
def test_which_recommendations_call_for_the_police(recommendation: str, calls: bool) -> None:
    assert calls_for_police(assessment(recommendation)) is calls


@pytest.mark.parametrize("urgency", ["routine", "high", "urgent"])
def test_a_recommendation_for_the_police_requests_at_the_assessment_urgency(urgency: str) -> None:
    request = escalation_request(case(), assessment(urgency=urgency), "evt-9")

    assert request == EscalationRequested(
        school_id=SCHOOL,
        protocol="sexto-qc",
        urgency=urgency,
        students=[
            EscalatedStudent(
                student_ref="stu-1", roles=["sender"], track="offender", indication="impulsive"
            ),
            EscalatedStudent(
                student_ref="stu-2", roles=["producer"], track="offender", indication="malicious"
            ),
        ],
        seal_numbers=["B-0001", "B-0002"],
        intervener_ref=ACTOR,
        assessment_event_id="evt-9",
    )


def test_a_case_managed_in_school_requests_nothing() -> None:
    uk = case(protocol=Protocol.UK_DSL)

    assert escalation_request(uk, assessment("manage_in_school", "routine"), "evt-9") is None


def test_a_case_is_requested_once() -> None:
    already = case(requested(urgency="urgent"))

    assert escalation_request(already, assessment(urgency="urgent"), "evt-9") is None


# --- deadlines --------------------------------------------------------------------------

ASKED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
LIMITS = {
    "acknowledge": {"urgent": 300.0, "high": 900.0, "routine": 3600.0},
    "collect_kit": {"urgent": 1800.0, "high": 3600.0, "routine": 86400.0},
}


def overdue(
    *,
    status: str = "requested",
    urgency: str = "urgent",
    after: timedelta,
    recorded: frozenset[str] = frozenset(),
) -> list[tuple[str, datetime]]:
    state = Escalation(
        case=CaseLifecycle(
            requested=True,
            acknowledged=status != "requested",
            kit_collected=status not in ("requested", "acknowledged"),
        ),
        urgency=urgency,
        requested_at=ASKED_AT,
        arms=((ASKED_AT, urgency),),
        overdue=recorded,
    )
    found = breaches(state, limits=LIMITS, now=ASKED_AT + after)
    assert all(isinstance(b, EscalationOverdue) and b.urgency == urgency for b in found)
    return [(b.step, b.deadline) for b in found]


def test_no_breach_before_or_at_the_deadline() -> None:
    assert overdue(after=timedelta(minutes=4)) == []
    assert overdue(after=timedelta(minutes=5)) == []


def test_a_step_still_pending_past_its_deadline_is_breached() -> None:
    assert overdue(after=timedelta(minutes=5, seconds=1)) == [
        ("acknowledge", ASKED_AT + timedelta(minutes=5))
    ]
    assert overdue(after=timedelta(minutes=31)) == [
        ("acknowledge", ASKED_AT + timedelta(minutes=5)),
        ("collect_kit", ASKED_AT + timedelta(minutes=30)),
    ]


@pytest.mark.parametrize(
    ("urgency", "breached"),
    [("urgent", ["acknowledge"]), ("high", ["acknowledge"]), ("routine", [])],
)
def test_each_urgency_has_its_own_deadline(urgency: str, breached: list[str]) -> None:
    assert [step for step, _ in overdue(urgency=urgency, after=timedelta(minutes=20))] == breached


def test_a_breach_is_recorded_once() -> None:
    assert overdue(after=timedelta(hours=1), recorded=frozenset({"acknowledge"})) == [
        ("collect_kit", ASKED_AT + timedelta(minutes=30))
    ]
    assert overdue(after=timedelta(hours=1), recorded=frozenset(PENDING)) == []


@pytest.mark.parametrize(
    ("status", "breached"),
    [
        ("requested", ["acknowledge", "collect_kit"]),
        ("acknowledged", ["collect_kit"]),
        ("kit_collected", []),
        ("prosecutor_consulted", []),
        ("decided", []),
    ],
)
def test_only_steps_still_pending_are_breached(status: str, breached: list[str]) -> None:
    assert [step for step, _ in overdue(status=status, after=timedelta(days=2))] == breached


def test_deadlines_are_decided_on_the_cases_own_events() -> None:
    # Given a request (event 2, at START + 2 min), acknowledged in time (event 3) and the
    # kit's breach already on the record (event 4): when checked a day later, nothing more.
    asked_at = START + timedelta(minutes=2)
    acked = state_of(Escalation(), evolve, case_reported(("stu-1", SENDER)), requested(), ACKED)
    recorded_breach = EscalationOverdue(
        step="collect_kit", urgency="urgent", deadline=asked_at + timedelta(minutes=30)
    )
    on_record = state_of(
        Escalation(), evolve, case_reported(("stu-1", SENDER)), requested(), ACKED,
        recorded_breach,
    )  # fmt: skip

    later = asked_at + timedelta(days=1)
    assert acked.requested_at == asked_at
    assert acked.request_event_id == "evt-2"
    assert [b.step for b in breaches(acked, limits=LIMITS, now=later)] == ["collect_kit"]
    assert breaches(on_record, limits=LIMITS, now=later) == []
    assert breaches(Escalation(), limits=LIMITS, now=later) == []  # never requested
