"""The escalation workflow under random sequences of steps (hypothesis, stateful, no server).

Whatever the police, the prosecutor and the school try in whatever order: a step is taken
exactly when the state machine allows it, a refusal lists what is allowed, the status
never goes back, and nobody is decided twice or without being on the case.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
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
from sexto_events.catalogue.escalation import KitCollected, SealCheck
from sexto_events.catalogue.evaluation import AssessmentMade, StudentIndication
from sexto_events.catalogue.intake import DeviceSecured, Protocol, StudentAdded, StudentRole
from sexto_events.model import RecordedEvent
from sexto_events.refusals import IllegalStep

from tests.support.given import case_reported, recorded, student

REFS = ["stu-1", "stu-2", "stu-3", "stu-4"]
SEALS = ["B-0001", "B-0002", "B-0003"]
# Offender-track roles only: the students the prosecutor decides about.
OFFENDING = [StudentRole.SENDER, StudentRole.PRODUCER, StudentRole.REDISTRIBUTOR]
STATUS_ORDER = [
    "none",
    "requested",
    "acknowledged",
    "kit_collected",
    "prosecutor_consulted",
    "decided",
]
AT = case_reported(("stu-1", StudentRole.SENDER)).discovered_at


def outcome(attempt: Callable[[], EventData]) -> EventData | IllegalStep:
    """The event a step returns, or its refusal."""
    try:
        return attempt()
    except IllegalStep as refusal:
        return refusal


class EscalationWorkflow(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[RecordedEvent] = []
        self.state = Escalation()
        self.highest = 0

    def record(self, data: EventData) -> None:
        event = recorded(data, seq=len(self.events) + 1)
        self.events.append(event)
        self.state = evolve(self.state, event)

    def take(self, step: Step, attempt: Callable[[], EventData]) -> None:
        """A linear step: accepted iff allowed, and a refusal lists exactly what is."""
        allowed = self.state.allowed()
        event = outcome(attempt)
        if isinstance(event, IllegalStep):
            assert step not in allowed
            assert event.allowed == [s.value for s in allowed]
            return
        assert step in allowed
        self.record(event)

    def expect(self, accepted: bool, attempt: Callable[[], EventData]) -> None:
        event = outcome(attempt)
        assert isinstance(event, EventData) == accepted
        if isinstance(event, EventData):
            self.record(event)

    @initialize(
        students=st.lists(st.sampled_from(REFS[:3]), min_size=1, max_size=3, unique=True),
        role=st.sampled_from(OFFENDING),
        seals=st.lists(st.sampled_from(SEALS), max_size=3, unique=True),
        protocol=st.sampled_from(list(Protocol)),
        head_start=st.integers(0, 5),
    )
    def report(
        self,
        students: list[str],
        role: StudentRole,
        seals: list[str],
        protocol: Protocol,
        head_start: int,
    ) -> None:
        self.record(case_reported(*((ref, role) for ref in students), protocol=protocol))
        for i, seal in enumerate(seals):
            owner = students[i % len(students)]
            self.record(DeviceSecured(owner_ref=owner, measure="switched_off", seal_number=seal))
        # Start some runs further down the path, so that the later steps get random
        # sequences of their own within a short run.
        if head_start:
            self.assess(escalate=True, urgency="urgent")
        for _ in range(head_start - 1):
            self.advance()
        if head_start == 5:
            while self.state.allowed():
                self.advance()

    @rule()
    def advance(self) -> None:
        """The next allowed step, whatever it is: the path a well-behaved partner takes."""
        allowed = self.state.allowed()
        if not allowed:
            self.follow_up()
        elif allowed == [Step.ACKNOWLEDGE]:
            self.acknowledge()
        elif allowed == [Step.COLLECT_KIT]:
            self.collect_kit([(seal, True) for seal in self.state.seals])
        elif allowed == [Step.CONSULT_PROSECUTOR]:
            self.consult()
        else:
            ref = next(r for r in self.state.students if r not in self.state.decisions)
            self.decide(ref, "impulsive")

    def follow_up(self) -> None:
        """The next meeting to schedule or to hold, if any."""
        state = self.state
        impulsive = [ref for ref, d in state.decisions.items() if d == "impulsive"]
        unscheduled = [ref for ref in impulsive if ref not in state.meetings_scheduled]
        unheld = [ref for ref in state.meetings_scheduled if ref not in state.meetings_held]
        if unscheduled:
            self.expect(True, lambda: schedule_meeting(state, unscheduled[0], AT))
        elif unheld:
            self.expect(True, lambda: meeting_held(state, unheld[0], ["student", "parent"]))

    @rule(escalate=st.booleans(), urgency=st.sampled_from(["routine", "high", "urgent"]))
    def assess(self, escalate: bool, urgency: str) -> None:
        """An assessment arrives: the case is requested once, when it calls for the police."""
        if self.state.protocol == Protocol.SEXTO_QC.value:
            recommendation = "police_referral"
        else:
            recommendation = "escalate_to_police_or_social_care" if escalate else "manage_in_school"
        assessment = AssessmentMade(
            students=[
                StudentIndication(
                    student_ref=ref,
                    grid_event_id="evt-1",
                    indication="undetermined",
                    urgency=urgency,
                    escalate=escalate,
                    fired=[],
                )
                for ref in self.state.students
            ],
            recommendation=recommendation,
            urgency=urgency,
            recommendation_fr="texte",
            recommendation_en="text",
        )
        already = self.state.requested
        request = escalation_request(self.state, assessment, f"evt-{len(self.events) + 1}")
        assert (request is not None) == (calls_for_police(assessment) and not already)
        if request is not None:
            assert request.urgency == urgency
            assert request.seal_numbers == list(self.state.seals)
            self.record(request)

    @precondition(lambda self: not self.state.decisions)
    @rule(ref=st.sampled_from(REFS), role=st.sampled_from(OFFENDING))
    def add_student(self, ref: str, role: StudentRole) -> None:
        # Before any decision: once every student is decided, a late student reopens the
        # decisions (status back to prosecutor_consulted), which is how it should be.
        if ref not in self.state.students:  # intake refuses a student already on the case
            self.record(StudentAdded(student=student(ref, role)))

    @rule()
    def acknowledge(self) -> None:
        self.take(Step.ACKNOWLEDGE, lambda: acknowledge(self.state, "911-0001", "dispatch-3"))

    @rule(
        handed=st.lists(
            st.tuples(st.sampled_from([*SEALS, "B-0777"]), st.booleans()),
            max_size=4,
            unique_by=lambda h: h[0],
        )
    )
    def collect_kit(self, handed: list[tuple[str, bool]]) -> None:
        seals = [SealCheck(seal_number=n, intact=ok) for n, ok in handed]
        secured = set(self.state.seals)
        allowed = Step.COLLECT_KIT in self.state.allowed()
        self.take(Step.COLLECT_KIT, lambda: collect_kit(self.state, "officer-12", seals))
        if allowed:
            kit = self.events[-1].data
            assert isinstance(kit, KitCollected)
            mismatch = secured != {n for n, _ in handed}
            assert kit.flagged == (mismatch or not all(ok for _, ok in handed))

    @rule()
    def consult(self) -> None:
        self.take(Step.CONSULT_PROSECUTOR, lambda: consult(self.state, "DPCP-2026-0001"))

    def pick(self, index: int) -> str:
        """A student of the case most of the time, else one it does not have."""
        candidates = [*self.state.students, "stu-x"]
        return candidates[index % len(candidates)]

    @rule(
        index=st.integers(0, 4),
        decision=st.sampled_from(["impulsive", "malicious", "no_further_action"]),
    )
    def decide_for(self, index: int, decision: str) -> None:
        self.decide(self.pick(index), decision)

    def decide(self, ref: str, decision: str) -> None:
        state = self.state
        if Step.DECIDE not in state.allowed():
            self.take(Step.DECIDE, lambda: decide(state, ref, decision, "reasons"))
            return
        undecided = [f"decide for {r}" for r in state.students if r not in state.decisions]
        event = outcome(lambda: decide(state, ref, decision, "reasons"))
        if isinstance(event, IllegalStep):
            assert ref not in state.students or ref in state.decisions
            assert event.allowed == undecided
            return
        assert ref in state.students
        assert ref not in state.decisions
        self.record(event)

    @rule(agency=st.sampled_from(["police", "childrens_social_care"]))
    def refer(self, agency: str) -> None:
        # Several agencies may be referred to, each once.
        state = self.state
        may = state.requested and state.protocol == "uk-dsl" and agency not in state.referrals
        self.expect(may, lambda: refer(state, agency, "REF-1"))

    @rule(index=st.integers(0, 4))
    def schedule(self, index: int) -> None:
        ref = self.pick(index)
        may = self.state.decisions.get(ref) == "impulsive"
        self.expect(may, lambda: schedule_meeting(self.state, ref, AT))

    @rule(index=st.integers(0, 4))
    def hold(self, index: int) -> None:
        ref = self.pick(index)
        state = self.state
        may = (
            state.decisions.get(ref) == "impulsive"
            and ref in state.meetings_scheduled
            and ref not in state.meetings_held
        )
        self.expect(may, lambda: meeting_held(state, ref, ["student", "parent"]))

    @invariant()
    def status_never_goes_back(self) -> None:
        rank = STATUS_ORDER.index(self.state.status)
        assert rank >= self.highest
        self.highest = rank

    @invariant()
    def at_most_one_linear_step_is_allowed(self) -> None:
        allowed = self.state.allowed()
        assert len(allowed) <= 1
        if self.state.status in ("none", "decided"):
            assert allowed == []

    @invariant()
    def decisions_never_exceed_the_students(self) -> None:
        assert set(self.state.decisions) <= set(self.state.students)
        assert len(self.state.decisions) <= len(self.state.students)
        if self.state.decisions:
            assert self.state.consulted

    @invariant()
    def meetings_follow_impulsive_decisions(self) -> None:
        impulsive = {r for r, d in self.state.decisions.items() if d == "impulsive"}
        assert self.state.meetings_held <= self.state.meetings_scheduled <= impulsive

    @invariant()
    def a_referral_is_on_an_escalated_uk_case(self) -> None:
        if self.state.referrals:
            assert self.state.requested
            assert self.state.protocol == "uk-dsl"


EscalationWorkflow.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
)
test_the_escalation_workflow = EscalationWorkflow.TestCase
