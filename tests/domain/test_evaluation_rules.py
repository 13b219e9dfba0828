"""Evaluation's rules without any server: one grid per student, the assessment once every
student has one, and the grids a fact opens."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sexto_evaluation.domain.decide import InvalidGrid, decide_grid
from sexto_evaluation.domain.grids import grids_opened
from sexto_evaluation.domain.state import EvaluationState, evolve
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.evaluation import (
    Answer,
    AssessmentMade,
    GridsOpened,
    GridSubmitted,
    GridText,
)
from sexto_events.catalogue.intake import (
    CaseClosed,
    NoteAdded,
    Protocol,
    StudentAdded,
    StudentRole,
)
from sexto_events.refusals import CaseAlreadyClosed, UnknownStudent
from sexto_protocols import ProtocolVersion, current

from tests.support.given import case_reported, recorded, state_of, student

SEXTO = current("sexto-qc")
UK = current("uk-dsl")
SENDER, PRODUCER = StudentRole.SENDER, StudentRole.PRODUCER
# Every field the protocol version requires answered (the students are all 14).
ANSWERED: dict[str, Answer] = {
    "trigger": "romantic_relationship",
    "distribution_reach": "one_person",
    "still_spreading": "no",
    "involvement": ["sent"],
    "age_band": "14_15",
    "significant_age_gap": "no",
    "coercion_or_threats": "no",
    "prior_incidents": "no",
    "vulnerability": "no",
}
CALM: dict[str, Answer] = {**ANSWERED, "intentions": ["romantic_exchange"]}
REVENGE: dict[str, Answer] = {
    **ANSWERED,
    "intentions": ["revenge"],
    "distribution_reach": "small_group",
}
UK_CALM: dict[str, Answer] = {f["id"]: "no" for f in UK.raw["grid"]["fields"]}


def case(*facts: EventData, protocol: Protocol = Protocol.SEXTO_QC) -> EvaluationState:
    """A case reported with stu-1 (sender) and stu-2 (producer), then these facts."""
    version = SEXTO if protocol is Protocol.SEXTO_QC else UK
    report = case_reported(("stu-1", SENDER), ("stu-2", PRODUCER), protocol=protocol)
    return state_of(EvaluationState(), evolve, report, *facts, protocol_version=version.id)


def grid(
    state: EvaluationState,
    student_ref: str,
    answers: Mapping[str, Answer],
    *,
    notes: Mapping[str, str] | None = None,
    reason: str | None = None,
    grid_id: str = "grid-new",
    protocol: ProtocolVersion = SEXTO,
) -> list[EventData]:
    return decide_grid(
        state,
        protocol,
        student_ref=student_ref,
        grid_id=grid_id,
        answers=answers,
        notes=notes or {},
        reason=reason,
    )


def submitted(student_ref: str, answers: Mapping[str, Answer]) -> GridSubmitted:
    return GridSubmitted(student_ref=student_ref, answers=dict(answers))


def kinds(events: list[EventData]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_grid_for_a_student_not_on_the_case_is_refused() -> None:
    with pytest.raises(UnknownStudent) as error:
        grid(case(), "stu-9", CALM)
    assert error.value.kind == "unknown-student"
    assert "stu-9" in error.value.detail


def test_a_grid_for_a_student_added_later_is_accepted() -> None:
    state = case(StudentAdded(student=student("stu-3", StudentRole.REDISTRIBUTOR)))

    assert state.students == ("stu-1", "stu-2", "stu-3")
    assert grid(state, "stu-3", CALM) == [submitted("stu-3", CALM)]


def test_no_grid_changes_on_a_closed_case() -> None:
    with pytest.raises(CaseAlreadyClosed) as error:
        grid(case(CaseClosed(resolution="resolved")), "stu-1", CALM)
    assert error.value.kind == "case-closed"


@pytest.mark.parametrize(
    ("answers", "notes", "problem"),
    [
        ({"colour": "red"}, {}, "colour: not a field"),
        ({"trigger": "boredom"}, {}, "trigger: must be one of"),
        ({"intentions": "revenge"}, {}, "intentions: must be a list"),
        ({"intentions": ["revenge", "boredom"]}, {}, "intentions: must be a list"),
        ({"content_nature": "a photo"}, {}, "content_nature: answer it in words, under notes"),
        ({}, {"mood": "sad"}, "mood: not a field"),
        ({}, {"content_nature": ""}, "content_nature: must be text"),
    ],
)
def test_answers_that_do_not_fit_the_protocol_version_are_refused_and_named(
    answers: dict[str, Answer], notes: dict[str, str], problem: str
) -> None:
    with pytest.raises(InvalidGrid) as error:
        grid(case(), "stu-1", answers, notes=notes)
    assert error.value.kind == "invalid-grid"
    problems = error.value.extra["problems"]
    assert isinstance(problems, list)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_sexto_answer_is_not_a_uk_answer() -> None:
    with pytest.raises(InvalidGrid):
        grid(case(protocol=Protocol.UK_DSL), "stu-1", CALM, protocol=UK)


def test_the_first_grid_of_two_students_waits_for_the_second() -> None:
    notes = {"content_nature": "a photo in underwear, described by the student"}

    decided = grid(case(), "stu-1", CALM, notes=notes)

    assert decided == [
        GridSubmitted(
            student_ref="stu-1",
            answers=CALM,
            texts=[GridText(field="content_nature", text=notes["content_nature"])],
        )
    ]


def test_notes_are_kept_in_field_order() -> None:
    notes = {"vulnerability": "a note on a factor", "content_nature": "described in words"}

    [decided] = grid(case(), "stu-1", CALM, notes=notes)

    assert isinstance(decided, GridSubmitted)
    assert [t.field for t in decided.texts] == ["content_nature", "vulnerability"]


def test_the_grid_completing_the_set_is_followed_by_the_assessment() -> None:
    state = case(submitted("stu-1", CALM))  # recorded as evt-2

    decided = grid(state, "stu-2", REVENGE, grid_id="grid-2")

    assert decided[0] == submitted("stu-2", REVENGE)
    assessment = decided[1]
    assert isinstance(assessment, AssessmentMade)
    assert [(s.student_ref, s.grid_event_id) for s in assessment.students] == [
        ("stu-1", "evt-2"),
        ("stu-2", "grid-2"),
    ]
    assert [s.indication for s in assessment.students] == ["impulsive", "malicious"]
    assert [s.urgency for s in assessment.students] == ["routine", "urgent"]
    assert "malicious_intent" in [f.rule_id for f in assessment.students[1].fired]
    # The case is as urgent as its most urgent student; SEXTO always goes to the police.
    assert assessment.urgency == "urgent"
    assert assessment.recommendation == "police_referral"
    assert assessment.recommendation_fr
    assert assessment.recommendation_en


def test_a_single_student_case_is_assessed_with_its_only_grid() -> None:
    report = case_reported(("stu-1", SENDER))
    state = state_of(EvaluationState(), evolve, report, protocol_version=SEXTO.id)

    decided = grid(state, "stu-1", CALM)

    assert kinds(decided) == ["GridSubmitted", "AssessmentMade"]


def test_an_amended_grid_needs_a_reason() -> None:
    state = case(submitted("stu-1", CALM))

    for reason in (None, ""):
        with pytest.raises(InvalidGrid) as error:
            grid(state, "stu-1", REVENGE, reason=reason)
        assert error.value.kind == "invalid-grid"
        assert "reason" in error.value.detail


def test_an_amended_grid_names_the_grid_it_supersedes_and_why() -> None:
    state = case(submitted("stu-1", CALM))

    [amended] = grid(state, "stu-1", REVENGE, reason="she told us it was for revenge")

    assert amended == GridSubmitted(
        student_ref="stu-1",
        answers=REVENGE,
        supersedes="evt-2",
        reason="she told us it was for revenge",
    )


def test_a_first_grid_records_no_amendment_reason() -> None:
    [first] = grid(case(), "stu-1", CALM, reason="nothing to amend")

    assert isinstance(first, GridSubmitted)
    assert first.supersedes is None
    assert first.reason is None


def test_an_amendment_after_the_assessment_is_assessed_again() -> None:
    """Every new assessment, an amended grid's included, is followed by escalation."""
    first, second = submitted("stu-1", CALM), submitted("stu-2", CALM)
    done = grid(case(first), "stu-2", CALM)[1]
    state = case(first, second, done)  # evt-2, evt-3, evt-4
    assert state.assessments == 1

    decided = grid(state, "stu-2", REVENGE, reason="new facts", grid_id="grid-5")

    assert isinstance(decided[0], GridSubmitted)
    assert decided[0].supersedes == "evt-3"
    assessment = decided[1]
    assert isinstance(assessment, AssessmentMade)
    assert [s.grid_event_id for s in assessment.students] == ["evt-2", "grid-5"]
    assert assessment.urgency == "urgent"


def test_a_student_added_after_the_assessment_waits_for_their_grid() -> None:
    first, second = submitted("stu-1", CALM), submitted("stu-2", CALM)
    added = StudentAdded(student=student("stu-3", StudentRole.REDISTRIBUTOR))
    state = case(first, second, added)

    assert kinds(grid(state, "stu-1", REVENGE, reason="amended")) == ["GridSubmitted"]
    assert kinds(grid(state, "stu-3", CALM)) == ["GridSubmitted", "AssessmentMade"]


@pytest.mark.parametrize(
    ("answers", "recommendation", "urgency"),
    [
        (UK_CALM, "manage_in_school", "routine"),
        ({**UK_CALM, "age_difference": "yes"}, "escalate_to_police_or_social_care", "high"),
        ({**UK_CALM, "other_concern": "yes"}, "escalate_to_police_or_social_care", "high"),
    ],
)
def test_a_uk_assessment_escalates_on_any_risk_factor(
    answers: dict[str, Answer], recommendation: str, urgency: str
) -> None:
    state = case(submitted("stu-1", UK_CALM), protocol=Protocol.UK_DSL)

    assessment = grid(state, "stu-2", answers, protocol=UK)[1]

    assert isinstance(assessment, AssessmentMade)
    assert assessment.recommendation == recommendation
    assert assessment.urgency == urgency


def test_the_evaluation_state_keeps_the_latest_grid_of_each_student() -> None:
    amended = GridSubmitted(student_ref="stu-1", answers=REVENGE, supersedes="evt-2", reason="r")
    state = case(submitted("stu-1", CALM), amended)

    assert state.protocol_version == SEXTO.id
    assert state.grids == {"stu-1": ("evt-3", amended)}
    assert not state.closed
    assert evolve(state, recorded(CaseClosed(resolution="resolved"), seq=9)).closed


@pytest.mark.parametrize(
    ("fact", "opened"),
    [
        (
            case_reported(("stu-1", SENDER), ("stu-2", StudentRole.DEPICTED)),
            GridsOpened(student_refs=["stu-1", "stu-2"]),
        ),
        (
            StudentAdded(student=student("stu-3", StudentRole.RECEIVER)),
            GridsOpened(student_refs=["stu-3"]),
        ),
        (NoteAdded(text="no grid for a note"), None),
        (CaseClosed(resolution="resolved"), None),
    ],
    ids=["report", "student-added", "note", "closed"],
)
def test_a_grid_opens_for_each_reported_or_added_student(
    fact: EventData, opened: GridsOpened | None
) -> None:
    assert grids_opened(fact) == opened
