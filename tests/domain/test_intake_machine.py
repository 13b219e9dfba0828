"""An intake case under random facts (hypothesis, stateful, no server).

Whatever the school's systems send in whatever order: each fact is accepted or refused
as the rules say, nothing is accepted after the close, the students only grow, and a seal
number is on the case once.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import (
    CaseClosed,
    ChecklistStepCompleted,
    DeviceSecured,
    NoteAdded,
    Protocol,
    StudentAdded,
    StudentRole,
    StudentRoleChanged,
)
from sexto_events.model import RecordedEvent
from sexto_events.refusals import Refusal
from sexto_intake.domain.errors import (
    CaseAlreadyClosed,
    InvalidCommand,
    UnknownStep,
    UnknownStudent,
)
from sexto_intake.domain.facts import decide_fact
from sexto_intake.domain.state import CaseState, evolve
from sexto_protocols import current

from tests.support.given import case_reported, recorded, student

VERSIONS = {p: current(p.value) for p in Protocol}
REFS = ["stu-1", "stu-2", "stu-3", "stu-4", "stu-5"]
SEALS = ["B-0001", "B-0002", "B-0003", None]
STEPS = sorted({s.id for v in VERSIONS.values() for s in v.checklist} | {"teleport_phone"})
ROLES = st.sampled_from(list(StudentRole))


def outcome(state: CaseState, fact: EventData) -> EventData | Refusal:
    """The fact as decided, or its refusal."""
    try:
        return decide_fact(state, fact)
    except Refusal as refusal:
        return refusal


class IntakeCase(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[RecordedEvent] = []
        self.state = CaseState()
        self.protocol = VERSIONS[Protocol.SEXTO_QC]
        self.students_before: set[str] = set()

    def record(self, data: EventData) -> None:
        event = recorded(data, seq=len(self.events) + 1, protocol_version=self.protocol.id)
        self.events.append(event)
        self.state = evolve(self.state, event)

    def attempt(self, fact: EventData, refusal: type[Refusal] | None) -> None:
        """Decide the fact; a closed case refuses everything, else the rule's refusal."""
        expected = CaseAlreadyClosed if self.state.closed else refusal
        decided = outcome(self.state, fact)
        if isinstance(decided, Refusal):
            assert type(decided) is expected, (decided, expected)
            return
        assert expected is None, (fact, expected)
        assert decided == fact
        self.record(decided)

    @initialize(
        students=st.lists(st.sampled_from(REFS[:3]), min_size=1, max_size=3, unique=True),
        role=ROLES,
        protocol=st.sampled_from(list(Protocol)),
    )
    def report(self, students: list[str], role: StudentRole, protocol: Protocol) -> None:
        self.protocol = VERSIONS[protocol]
        self.record(case_reported(*((ref, role) for ref in students), protocol=protocol))

    @rule(ref=st.sampled_from(REFS), role=ROLES)
    def add_student(self, ref: str, role: StudentRole) -> None:
        known = ref in self.state.students
        self.attempt(StudentAdded(student=student(ref, role)), InvalidCommand if known else None)

    @rule(ref=st.sampled_from(REFS), role=ROLES)
    def change_role(self, ref: str, role: StudentRole) -> None:
        fact = StudentRoleChanged(student_ref=ref, roles=[role], reason="corrected after a meeting")
        self.attempt(fact, None if ref in self.state.students else UnknownStudent)

    @rule(
        owner=st.sampled_from(REFS),
        seal=st.sampled_from(SEALS),
        measure=st.sampled_from(["flight_mode", "switched_off"]),
    )
    def secure_device(self, owner: str, seal: str | None, measure: str) -> None:
        fact = DeviceSecured(owner_ref=owner, measure=measure, seal_number=seal)
        if owner not in self.state.students:
            self.attempt(fact, UnknownStudent)
        else:
            self.attempt(fact, InvalidCommand if seal in self.state.seals else None)

    @rule(step=st.sampled_from(STEPS))
    def complete_step(self, step: str) -> None:
        known = self.protocol.step(step) is not None
        self.attempt(ChecklistStepCompleted(step_id=step), None if known else UnknownStep)

    @rule()
    def add_note(self) -> None:
        self.attempt(NoteAdded(text="a factual note, in words"), None)

    @rule(now=st.integers(0, 3))
    def close(self, now: int) -> None:
        if now == 0:  # a close is rarer than the other facts: runs go on long enough
            self.attempt(CaseClosed(resolution="resolved_educational"), None)

    @invariant()
    def nothing_is_accepted_after_the_close(self) -> None:
        closes = [i for i, e in enumerate(self.events) if isinstance(e.data, CaseClosed)]
        if closes:
            assert closes == [len(self.events) - 1]  # closed once, and nothing since
        assert self.state.closed == bool(closes)

    @invariant()
    def the_students_only_grow(self) -> None:
        now = set(self.state.students)
        assert self.students_before <= now
        self.students_before = now

    @invariant()
    def a_seal_is_on_the_case_once(self) -> None:
        numbers = [
            e.data.seal_number
            for e in self.events
            if isinstance(e.data, DeviceSecured) and e.data.seal_number is not None
        ]
        assert len(numbers) == len(set(numbers))
        assert self.state.seals == set(numbers)

    @invariant()
    def facts_name_students_and_steps_of_the_case(self) -> None:
        assert all(self.protocol.step(step) for step in self.state.steps_done)
        owners = {e.data.owner_ref for e in self.events if isinstance(e.data, DeviceSecured)}
        assert owners <= set(self.state.students)


IntakeCase.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
)
test_an_intake_case = IntakeCase.TestCase
