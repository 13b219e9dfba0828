"""Evaluation's part of the case lifecycle without any server (issue 14): drafts until a
grid is complete by the protocol version's definition, each student's track in the
assessment, and the warnings it leaves for the intervener (ages, a student seen before)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sexto_evaluation.domain.decide import decide_grid
from sexto_evaluation.domain.state import EvaluationState, evolve
from sexto_events.catalogue import CATALOGUE
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.evaluation import (
    Answer,
    AssessmentMade,
    GridDraftSaved,
    GridSubmitted,
)
from sexto_events.catalogue.intake import (
    CaseReported,
    DiscoveryChannel,
    PriorInvolvementNoted,
    Protocol,
    StudentInvolved,
    StudentRole,
    StudentRoleChanged,
)
from sexto_events.model import RecordedEvent
from sexto_protocols import ProtocolVersion, all_versions, current

from tests.support.given import SCHOOL, START, recorded, state_of

SEXTO = current("sexto-qc")
SEXTO_V1 = next(p for p in all_versions() if p.name == "sexto-qc" and p.version == 1)
UK = current("uk-dsl")
DEPICTED, SENDER = StudentRole.DEPICTED, StudentRole.SENDER
RECEIVER, REDISTRIBUTOR = StudentRole.RECEIVER, StudentRole.REDISTRIBUTOR

ANSWERED: dict[str, Answer] = {
    "trigger": "romantic_relationship",
    "intentions": ["romantic_exchange"],
    "distribution_reach": "one_person",
    "still_spreading": "no",
    "involvement": ["sent"],
    "age_band": "14_15",
    "significant_age_gap": "no",
    "coercion_or_threats": "no",
    "prior_incidents": "no",
    "vulnerability": "no",
}
UK_CALM: dict[str, Answer] = {f["id"]: "no" for f in UK.raw["grid"]["fields"]}


def reported(
    *students: tuple[str, list[StudentRole], int | None],
    protocol: Protocol = Protocol.SEXTO_QC,
) -> CaseReported:
    return CaseReported(
        protocol=protocol,
        school_id=SCHOOL,
        discovered_at=START,
        discovery_channel=DiscoveryChannel.STAFF_OBSERVATION,
        summary="invented: a photo went round after a party",
        students=[
            StudentInvolved(student_ref=ref, roles=roles, age=age, name=f"Invented {ref}")
            for ref, roles, age in students
        ],
    )


TWO = reported(("stu-1", [SENDER], 14), ("stu-2", [DEPICTED], 14))


def case(
    *facts: EventData, report: CaseReported = TWO, protocol: ProtocolVersion = SEXTO
) -> EvaluationState:
    return state_of(EvaluationState(), evolve, report, *facts, protocol_version=protocol.id)


def grid(
    state: EvaluationState,
    ref: str,
    answers: Mapping[str, Answer],
    *,
    reason: str | None = None,
    protocol: ProtocolVersion = SEXTO,
    grid_id: str = "grid-new",
) -> list[EventData]:
    return decide_grid(
        state,
        protocol,
        student_ref=ref,
        grid_id=grid_id,
        answers=answers,
        notes={},
        reason=reason,
    )


def complete(ref: str, answers: Mapping[str, Answer] = ANSWERED) -> GridSubmitted:
    return GridSubmitted(student_ref=ref, answers=dict(answers))


def without(*names: str) -> dict[str, Answer]:
    return {k: v for k, v in ANSWERED.items() if k not in names}


def assessment_of(decided: list[EventData]) -> AssessmentMade:
    assert len(decided) == 2, decided
    made = decided[1]
    assert isinstance(made, AssessmentMade)
    return made


# --- grids complete by the protocol's definition ------------------------------------


def test_a_grid_missing_required_answers_is_a_draft_naming_them_and_is_not_assessed() -> None:
    state = case(complete("stu-1"))  # the other student's grid is in: this one would close it

    decided = grid(state, "stu-2", without("vulnerability", "trigger"))

    assert decided == [
        GridDraftSaved(
            student_ref="stu-2",
            answers=without("vulnerability", "trigger"),
            missing=["trigger", "vulnerability"],  # in the grid's order
        )
    ]


def test_an_empty_list_answers_nothing() -> None:
    [draft] = grid(case(), "stu-1", {**ANSWERED, "involvement": []})

    assert isinstance(draft, GridDraftSaved)
    assert draft.missing == ["involvement"]


def test_an_empty_grid_is_a_draft_missing_every_required_field() -> None:
    [draft] = grid(case(), "stu-1", {})

    assert isinstance(draft, GridDraftSaved)
    assert draft.missing == [f["id"] for f in SEXTO.raw["grid"]["fields"] if f["required"]]
    assert "content_nature" not in draft.missing  # words nobody may have: not required


def test_completing_a_draft_needs_no_reason_supersedes_it_and_is_assessed() -> None:
    draft = GridDraftSaved(student_ref="stu-2", answers=without("trigger"), missing=["trigger"])
    state = case(complete("stu-1"), draft)  # evt-2, evt-3
    assert state.drafts["stu-2"][0] == "evt-3"
    assert "stu-2" not in state.grids

    decided = grid(state, "stu-2", ANSWERED)

    first = decided[0]
    assert isinstance(first, GridSubmitted)
    assert first.supersedes == "evt-3"
    assert first.reason is None
    assert [s.student_ref for s in assessment_of(decided).students] == ["stu-1", "stu-2"]


def test_a_second_draft_names_the_first() -> None:
    draft = GridDraftSaved(student_ref="stu-1", answers={}, missing=["trigger"])

    [again] = grid(case(draft), "stu-1", without("trigger"))

    assert isinstance(again, GridDraftSaved)
    assert again.supersedes == "evt-2"


def test_a_draft_of_an_amendment_leaves_the_complete_grid_in_force() -> None:
    state = case(complete("stu-1"), complete("stu-2"))

    [draft] = grid(state, "stu-1", without("intentions"))
    after = state_of(
        EvaluationState(),
        evolve,
        TWO,
        complete("stu-1"),
        complete("stu-2"),
        draft,
        protocol_version=SEXTO.id,
    )

    assert isinstance(draft, GridDraftSaved)
    assert after.grids["stu-1"][0] == "evt-2"
    assert "stu-1" in after.drafts
    # Completing it is an amendment of the grid in force: it needs its reason.
    amended = grid(after, "stu-1", ANSWERED, reason="the student told us more")
    assert isinstance(amended[0], GridSubmitted)
    assert amended[0].supersedes == "evt-2"
    assert evolve(after, _recorded(amended[0], 5)).drafts == {}


def _recorded(data: EventData, seq: int) -> RecordedEvent:
    return recorded(data, seq=seq, protocol_version=SEXTO.id)


def test_a_case_reported_under_version_1_keeps_its_rules_every_grid_complete() -> None:
    """Version 1 flagged no field required: its open cases are graded as they were."""
    state = case(complete("stu-1"), protocol=SEXTO_V1)

    decided = grid(state, "stu-2", {"intentions": ["joke"]}, protocol=SEXTO_V1)

    assert [type(e).__name__ for e in decided] == ["GridSubmitted", "AssessmentMade"]


def test_a_uk_grid_needs_all_seven_factors() -> None:
    report = reported(("stu-1", [SENDER], 14), protocol=Protocol.UK_DSL)
    state = case(report=report, protocol=UK)

    partial = {k: v for k, v in UK_CALM.items() if k != "other_concern"}
    [draft] = grid(state, "stu-1", partial, protocol=UK)
    full = grid(state, "stu-1", UK_CALM, protocol=UK)

    assert isinstance(draft, GridDraftSaved)
    assert draft.missing == ["other_concern"]
    assert assessment_of(full).recommendation == "manage_in_school"


# --- tracks -------------------------------------------------------------------------


def test_a_depicted_student_is_on_the_victim_track_with_no_offender_indication() -> None:
    victim = {**ANSWERED, "involvement": ["depicted"], "intentions": ["revenge"]}
    state = case(complete("stu-1"))

    made = assessment_of(grid(state, "stu-2", victim))

    offender, depicted = made.students
    assert (offender.track, offender.indication) == ("offender", "impulsive")
    assert (depicted.track, depicted.indication) == ("victim", "not_applicable")
    # The intent rule reads an offender's intentions only: not the victim's.
    assert "malicious_intent" not in [f.rule_id for f in depicted.fired]
    assert made.urgency == "routine"


def test_a_student_who_only_received_is_a_witness() -> None:
    report = reported(("stu-1", [SENDER], 14), ("stu-2", [RECEIVER], 14))
    state = case(complete("stu-1"), report=report)

    made = assessment_of(grid(state, "stu-2", {**ANSWERED, "involvement": ["received"]}))

    assert (made.students[1].track, made.students[1].indication) == ("witness", "not_applicable")


def test_a_victims_answers_about_the_case_still_raise_the_urgency() -> None:
    """A depicted student under threats, or the image still spreading, is the most urgent
    case of all: those rules read every track, they only give no offender indication."""
    victim = {
        **ANSWERED,
        "involvement": ["depicted"],
        "coercion_or_threats": "yes",
        "still_spreading": "yes",
    }
    state = case(complete("stu-1"))

    made = assessment_of(grid(state, "stu-2", victim))

    depicted = made.students[1]
    assert depicted.indication == "not_applicable"
    assert {f.rule_id for f in depicted.fired} == {"coercion", "still_spreading"}
    assert depicted.urgency == "urgent"
    assert made.urgency == "urgent"


@pytest.mark.parametrize(
    ("roles", "involvement", "track"),
    [
        ([DEPICTED, SENDER], ["depicted"], "offender"),  # depicted *and* sender
        ([DEPICTED], ["depicted", "sent"], "offender"),  # the grid found they sent it
        ([RECEIVER], ["received", "redistributed"], "offender"),
        ([DEPICTED], ["depicted"], "victim"),
        ([RECEIVER], ["received"], "witness"),
    ],
)
def test_the_track_comes_from_the_roles_and_the_grids_involvement(
    roles: list[StudentRole], involvement: list[str], track: str
) -> None:
    report = reported(("stu-1", roles, 14))
    state = case(report=report)

    made = assessment_of(grid(state, "stu-1", {**ANSWERED, "involvement": involvement}))

    assert made.students[0].track == track
    assert (made.students[0].indication == "not_applicable") is (track != "offender")


def test_a_corrected_role_changes_the_track_of_the_next_assessment() -> None:
    corrected = StudentRoleChanged(
        student_ref="stu-2", roles=[DEPICTED, REDISTRIBUTOR], reason="invented: she sent it on"
    )
    state = case(complete("stu-1"), corrected)

    made = assessment_of(grid(state, "stu-2", {**ANSWERED, "involvement": ["depicted"]}))

    assert made.students[1].track == "offender"


def test_only_offenders_get_malicious_and_impulsive_indications_under_version_1_too() -> None:
    state = case(complete("stu-1"), protocol=SEXTO_V1)

    made = assessment_of(
        grid(
            state, "stu-2", {"involvement": ["depicted"], "intentions": ["joke"]}, protocol=SEXTO_V1
        )
    )

    assert made.students[1].indication == "not_applicable"


# --- ages ---------------------------------------------------------------------------


def test_reported_ages_that_contradict_the_age_gap_answer_are_a_warning() -> None:
    report = reported(("stu-1", [SENDER], 18), ("stu-2", [DEPICTED], 15))
    state = case(complete("stu-1", {**ANSWERED, "age_band": "18_plus"}), report=report)

    made = assessment_of(grid(state, "stu-2", {**ANSWERED, "involvement": ["depicted"]}))

    gaps = [w for w in made.warnings if w.code == "age_gap_differs"]
    assert [(w.student_ref, w.field, w.expected, w.answered) for w in gaps] == [
        ("stu-1", "significant_age_gap", "yes", "no"),
        ("stu-2", "significant_age_gap", "yes", "no"),
    ]
    assert gaps[0].fr
    assert gaps[0].en
    # Never settled silently: the grid's answer stands, its rule did not fire.
    assert all("age_gap" not in [f.rule_id for f in s.fired] for s in made.students)


def test_a_reported_age_outside_the_band_answered_is_a_warning() -> None:
    report = reported(("stu-1", [SENDER], 16), ("stu-2", [DEPICTED], 15))
    state = case(complete("stu-1"), report=report)  # stu-1 answered 14_15, reported 16

    made = assessment_of(grid(state, "stu-2", {**ANSWERED, "involvement": ["depicted"]}))

    assert [(w.code, w.student_ref, w.expected, w.answered) for w in made.warnings] == [
        ("age_band_differs", "stu-1", "16_17", "14_15")
    ]


def test_ages_that_agree_with_the_answers_leave_no_warning() -> None:
    report = reported(("stu-1", [SENDER], 17), ("stu-2", [DEPICTED], 14))
    gap = {**ANSWERED, "significant_age_gap": "yes"}
    state = case(complete("stu-1", {**gap, "age_band": "16_17"}), report=report)

    made = assessment_of(grid(state, "stu-2", {**gap, "involvement": ["depicted"]}))

    assert made.warnings == []
    assert made.urgency == "high"  # the age-gap rule, from the answers


def test_unknown_ages_derive_nothing() -> None:
    report = reported(("stu-1", [SENDER], None), ("stu-2", [DEPICTED], 14))
    state = case(complete("stu-1", {**ANSWERED, "significant_age_gap": "yes"}), report=report)

    made = assessment_of(grid(state, "stu-2", {**ANSWERED, "involvement": ["depicted"]}))

    assert made.warnings == []


def test_a_uk_age_difference_answer_is_checked_against_the_ages() -> None:
    report = reported(("stu-1", [SENDER], 13), ("stu-2", [DEPICTED], 16), protocol=Protocol.UK_DSL)
    state = case(GridSubmitted(student_ref="stu-1", answers=UK_CALM), report=report, protocol=UK)

    made = assessment_of(grid(state, "stu-2", UK_CALM, protocol=UK))

    assert {(w.student_ref, w.field, w.expected) for w in made.warnings} == {
        ("stu-1", "age_difference", "yes"),
        ("stu-2", "age_difference", "yes"),
    }
    assert made.recommendation == "manage_in_school"  # the answers decide; the DSL checks


# --- a student seen before ----------------------------------------------------------


def test_a_student_seen_before_is_a_warning_and_the_answer_stays_the_interveners() -> None:
    noted = PriorInvolvementNoted(student_ref="stu-1", earlier_cases=1)
    state = case(noted, complete("stu-2", {**ANSWERED, "involvement": ["depicted"]}))

    made = assessment_of(grid(state, "stu-1", ANSWERED))

    [warning] = made.warnings
    assert (warning.code, warning.student_ref) == ("prior_involvement_found", "stu-1")
    assert (warning.field, warning.expected, warning.answered) == ("prior_incidents", "yes", "no")
    assert "recidivism" not in [f.rule_id for f in made.students[0].fired]


def test_a_student_seen_before_and_answered_so_is_still_flagged() -> None:
    noted = PriorInvolvementNoted(student_ref="stu-1", earlier_cases=2)
    state = case(noted, complete("stu-2", {**ANSWERED, "involvement": ["depicted"]}))

    made = assessment_of(grid(state, "stu-1", {**ANSWERED, "prior_incidents": "yes"}))

    assert [(w.code, w.answered) for w in made.warnings] == [("prior_involvement_found", "yes")]
    assert made.students[0].indication == "malicious"
    assert made.urgency == "urgent"


# --- the event's versions -----------------------------------------------------------


def test_an_assessment_v1_reads_as_v2_with_no_track_and_no_warning() -> None:
    v1 = {
        "students": [
            {
                "student_ref": "stu-1",
                "grid_event_id": "evt-2",
                "indication": "impulsive",
                "urgency": "routine",
                "escalate": False,
                "fired": [],
            }
        ],
        "recommendation": "police_referral",
        "urgency": "routine",
        "recommendation_fr": "Référer à la police (911)",
        "recommendation_en": "Refer to the police (911)",
    }

    name, data = CATALOGUE.upcast("org.sexto.evaluation.assessment_made.v1", v1)
    made = CATALOGUE.validate(name, data)

    assert name == "org.sexto.evaluation.assessment_made.v2"
    assert isinstance(made, AssessmentMade)
    assert made.students[0].track is None
    assert made.students[0].indication == "impulsive"
    assert made.warnings == []
