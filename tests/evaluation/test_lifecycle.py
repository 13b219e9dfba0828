"""Evaluation's part of the case lifecycle on the real stack (issue 14): drafts until a
grid is complete by the protocol version, each student's track, the warnings it leaves
for the intervener (reported ages, a student seen before), and who sees them."""

from __future__ import annotations

from typing import Any

import sexto_protocols as protocols
from sexto_events.catalogue.intake import PriorInvolvementNoted
from sexto_events.commands import append_once
from sexto_events.model import CaseRef, NewEvent
from sexto_events.principal import Role
from uuid_utils import uuid7

from tests.evaluation.conftest import Evaluation
from tests.evaluation.test_grids import IMPULSIVE, types

VICTIM = {**IMPULSIVE, "involvement": ["depicted"]}
STUDENTS = [
    {"name": "Invented Aster", "roles": ["sender"], "age": 18},
    {"name": "Invented Birch", "roles": ["depicted"], "age": 15},
]


def grids_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["student_ref"]: g for g in view["grids"]}


def test_a_partial_grid_is_a_draft_that_says_what_is_missing_and_waits(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report()
    for ref in refs[1:]:
        assert evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE}).status_code == 201
    partial = {k: v for k, v in IMPULSIVE.items() if k not in ("vulnerability", "trigger")}

    draft = evaluation.put_grid(case_id, refs[0], {"answers": partial})
    shown = evaluation.assessment(case_id).json()
    done = evaluation.put_grid(case_id, refs[0], {"answers": IMPULSIVE})

    assert draft.status_code == 201, draft.text
    assert draft.json()["complete"] is False
    assert draft.json()["assessed"] is False
    assert draft.json()["missing"] == ["trigger", "vulnerability"]
    assert shown["status"] == "pending"
    assert shown["assessment"] is None
    assert refs[0] in shown["pending_students"]
    assert grids_of(shown)[refs[0]]["status"] == "draft"
    assert grids_of(shown)[refs[0]]["missing"] == ["trigger", "vulnerability"]
    assert grids_of(shown)[refs[1]] == {
        "student_ref": refs[1], "status": "complete", "missing": [], "warnings": []
    }  # fmt: skip
    # Completing the draft needs no reason: nothing complete was in force.
    assert done.status_code == 201, done.text
    assert done.json()["complete"] is True
    assert done.json()["assessed"] is True
    assert types(evaluation, case_id).count("grid_draft_saved") == 1
    assert types(evaluation, case_id).count("assessment_made") == 1
    after = evaluation.assessment(case_id).json()
    assert after["status"] == "assessed"
    assert {g["status"] for g in after["grids"]} == {"complete"}


def test_an_empty_grid_is_not_complete(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report()

    empty = evaluation.put_grid(case_id, refs[0], {"answers": {}})

    required = protocols.current("sexto-qc").raw["grid"]["fields"]
    assert empty.json()["missing"] == [f["id"] for f in required if f["required"]]
    pending = grids_of(evaluation.assessment(case_id).json())[refs[1]]
    assert pending["status"] == "pending"
    assert pending["missing"] == empty.json()["missing"]


def test_a_depicted_student_is_on_the_victim_track_and_gets_no_indication(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report()
    grids = [VICTIM, IMPULSIVE, IMPULSIVE]  # the first student is only depicted

    for ref, answers in zip(refs, grids, strict=True):
        assert evaluation.put_grid(case_id, ref, {"answers": answers}).status_code == 201

    students = evaluation.assessment(case_id).json()["assessment"]["students"]
    assert [(s["track"], s["indication"]) for s in students] == [
        ("victim", "not_applicable"),
        ("offender", "impulsive"),
        ("offender", "impulsive"),
    ]


def test_reported_ages_contradicting_the_grid_are_warned_never_settled(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report(students=STUDENTS)
    adult = {**IMPULSIVE, "age_band": "18_plus"}

    first = evaluation.put_grid(case_id, refs[0], {"answers": adult})
    evaluation.put_grid(case_id, refs[1], {"answers": VICTIM})

    assert [(w["code"], w["expected"], w["answered"]) for w in first.json()["warnings"]] == [
        ("age_gap_differs", "yes", "no")
    ]
    assessment = evaluation.assessment(case_id).json()["assessment"]
    assert [(w["code"], w["student_ref"], w["field"]) for w in assessment["warnings"]] == [
        ("age_gap_differs", refs[0], "significant_age_gap"),
        ("age_gap_differs", refs[1], "significant_age_gap"),
    ]
    assert all(w["fr"] and w["en"] for w in assessment["warnings"])
    assert assessment["urgency"] == "routine"  # the answer stands until the intervener amends

    amended = evaluation.put_grid(
        case_id,
        refs[0],
        {"answers": {**adult, "significant_age_gap": "yes"}, "reason": "checked the ages"},
    )
    assert amended.json()["warnings"] == []
    latest = evaluation.assessment(case_id).json()["assessment"]
    assert [w["student_ref"] for w in latest["warnings"]] == [refs[1]]
    assert latest["urgency"] == "high"


def test_a_student_seen_before_is_flagged_on_the_grid_and_the_assessment(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report()
    runtime = evaluation.client.app.state.runtime  # type: ignore[attr-defined]
    noted = NewEvent(
        PriorInvolvementNoted(student_ref=refs[1], earlier_cases=1),
        "sexto-intake",
        "service",
        event_id=str(uuid7()),
    )
    call = evaluation.client.portal.call  # type: ignore[union-attr]
    call(append_once, runtime.store, CaseRef(evaluation.world.territory, case_id), noted)

    before = grids_of(evaluation.assessment(case_id).json())[refs[1]]
    answers = [VICTIM, IMPULSIVE, IMPULSIVE]
    put = [
        evaluation.put_grid(case_id, r, {"answers": a}) for r, a in zip(refs, answers, strict=True)
    ]

    [warning] = before["warnings"]
    assert (warning["code"], warning["field"], warning["expected"], warning["answered"]) == (
        "prior_involvement_found", "prior_incidents", "yes", None
    )  # fmt: skip
    assert [w["answered"] for w in put[1].json()["warnings"]] == ["no"]
    assessment = evaluation.assessment(case_id).json()["assessment"]
    assert [(w["code"], w["student_ref"]) for w in assessment["warnings"]] == [
        ("prior_involvement_found", refs[1])
    ]
    # Not set silently: the intervener's "no" stands, recidivism did not fire.
    assert "recidivism" not in [f["rule_id"] for f in assessment["students"][1]["fired"]]


def test_the_warnings_are_grid_data_for_whoever_reads_the_assessment(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report(students=STUDENTS)
    evaluation.put_grid(case_id, refs[0], {"answers": {**IMPULSIVE, "age_band": "18_plus"}})
    evaluation.put_grid(case_id, refs[1], {"answers": VICTIM})
    admin = evaluation.world.headers(
        Role.SCHOOL_ADMIN, subject="adm-1", school=evaluation.world.school
    )

    shown = evaluation.assessment(case_id, headers=admin)

    assert shown.status_code == 200, shown.text
    view = shown.json()
    # A school admin sees outcomes (tracks, urgency), not the grid nor its warnings.
    assert [s["track"] for s in view["assessment"]["students"]] == ["offender", "victim"]
    warning = view["assessment"]["warnings"][0]
    assert warning["code"] == warning["expected"] == {"withheld": True}
