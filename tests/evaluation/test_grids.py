"""Grids per student and the assessment, from report to recommendation."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sexto_protocols as protocols
from sexto_events.principal import Role

from tests.evaluation.conftest import Evaluation
from tests.support.grids import DEPICTED, IMPULSIVE, MALICIOUS

__all__ = ["DEPICTED", "IMPULSIVE", "MALICIOUS"]  # imported from here by other tests

UK_FACTORS = ("age_difference", "external_coercion", "more_vulnerable", "severe_content",
              "widely_distributed", "previous_incident", "other_concern")  # fmt: skip
NO_FACTOR = dict.fromkeys(UK_FACTORS, "no")
CONTENT = {"content_nature": "a selfie in underwear"}


def types(ev: Evaluation, case_id: str) -> list[str]:
    return [e.envelope.type.split(".")[3] for e in ev.events(case_id)]


def test_a_sexto_case_from_report_to_assessment(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report()
    grids: list[dict[str, Any]] = [
        {"answers": IMPULSIVE, "notes": CONTENT},
        {"answers": MALICIOUS},
        {"answers": IMPULSIVE},
    ]

    results = [evaluation.put_grid(case_id, ref, g) for ref, g in zip(refs, grids, strict=True)]

    assert [r.status_code for r in results] == [201, 201, 201], [r.text for r in results]
    assert [r.json()["assessed"] for r in results] == [False, False, True]
    view = evaluation.assessment(case_id).json()
    assert view["status"] == "assessed"
    assessment = view["assessment"]
    assert assessment["protocol_version"] == protocols.current("sexto-qc").id
    assert [s["indication"] for s in assessment["students"]] == [
        "impulsive",
        "malicious",
        "impulsive",
    ]
    assert assessment["recommendation"] == "police_referral"
    assert assessment["urgency"] == "urgent"
    fired = {f["rule_id"]: f for f in assessment["students"][1]["fired"]}
    assert fired["malicious_intent"]["read"] == ["revenge"]
    assert fired["malicious_intent"]["fr"]
    assert fired["malicious_intent"]["en"]
    assert types(evaluation, case_id).count("assessment_made") == 1


def test_the_description_of_the_content_is_sealed(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report()

    evaluation.put_grid(
        case_id,
        refs[0],
        {"answers": IMPULSIVE, "notes": CONTENT},
    )

    grid = next(
        e for e in evaluation.events(case_id) if e.envelope.type.endswith("grid_submitted.v1")
    )
    assert "selfie" not in str(grid.envelope.data)
    assert grid.data.texts[0].text == "a selfie in underwear"  # type: ignore[attr-defined]


def test_a_uk_case_with_no_factor_is_managed_in_school(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report(protocol="uk-dsl")

    for ref in refs:
        assert evaluation.put_grid(case_id, ref, {"answers": NO_FACTOR}).status_code == 201

    assessment = evaluation.assessment(case_id).json()["assessment"]
    assert assessment["recommendation"] == "manage_in_school"
    assert all(not s["escalate"] for s in assessment["students"])


def test_a_uk_case_with_one_factor_escalates(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report(protocol="uk-dsl")

    for index, ref in enumerate(refs):
        answers = {**NO_FACTOR, "previous_incident": "yes"} if index == 2 else NO_FACTOR
        evaluation.put_grid(
            case_id, ref, {"answers": answers, "notes": {"previous_incident": "in grade 7"}}
        )

    assert evaluation.assessment(case_id).json()["assessment"]["recommendation"] == (
        "escalate_to_police_or_social_care"
    )


def test_an_amendment_supersedes_with_its_reason_and_triggers_a_new_assessment(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report()
    first_ids = [
        evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE}).json()["event_ids"][0]
        for ref in refs
    ]

    refused = evaluation.put_grid(case_id, refs[1], {"answers": MALICIOUS})
    amended = evaluation.put_grid(
        case_id, refs[1], {"answers": MALICIOUS, "reason": "the student admitted revenge"}
    )

    assert refused.status_code == 422
    assert "reason" in refused.json()["detail"]
    assert amended.status_code == 201
    assert amended.json()["assessed"] is True
    grids = [e for e in evaluation.events(case_id) if e.envelope.type.endswith("grid_submitted.v1")]
    assert grids[-1].data.supersedes == first_ids[1]  # type: ignore[attr-defined]
    assert types(evaluation, case_id).count("assessment_made") == 2
    latest = evaluation.assessment(case_id).json()["assessment"]
    assert latest["students"][1]["indication"] == "malicious"


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ({"answers": {"colour": "red"}}, "invalid-grid", 422),
        ({"answers": {"trigger": "boredom"}}, "invalid-grid", 422),
        ({"answers": {"intentions": "revenge"}}, "invalid-grid", 422),
        ({"answers": {}, "notes": {"nature": "words"}}, "invalid-grid", 422),
        ({"answers": {"content_nature": "words"}}, "invalid-grid", 422),
    ],
)
def test_bad_grids_are_refused_and_nothing_is_written(
    evaluation: Evaluation, body: dict[str, Any], kind: str, status: int
) -> None:
    case_id, refs = evaluation.report()
    before = len(evaluation.events(case_id))

    response = evaluation.put_grid(case_id, refs[0], body)

    assert response.status_code == status
    assert response.json()["type"].endswith(f"/{kind}")
    assert response.json()["problems"]
    assert len(evaluation.events(case_id)) == before


def test_a_grid_for_an_unknown_student_is_a_404(evaluation: Evaluation) -> None:
    case_id, _ = evaluation.report()

    response = evaluation.put_grid(case_id, "stu-nobody", {"answers": IMPULSIVE})

    assert response.status_code == 404
    assert response.json()["type"].endswith("/unknown-student")


def test_a_grid_for_a_closed_case_is_refused(evaluation: Evaluation) -> None:
    # A UK case managed in school: every grid in (closing waits for them), then closed.
    case_id, refs = evaluation.report(protocol="uk-dsl")
    for ref in refs:
        assert evaluation.put_grid(case_id, ref, {"answers": NO_FACTOR}).status_code == 201
    closed = eventually_closed(evaluation, case_id)
    assert closed.status_code == 201, closed.text

    response = evaluation.put_grid(
        case_id, refs[0], {"answers": NO_FACTOR, "reason": "a late second thought"}
    )

    assert response.status_code == 409
    assert response.json()["type"].endswith("/case-closed")


def eventually_closed(evaluation: Evaluation, case_id: str) -> Any:
    """Close the case once intake has seen every grid (until then: 409 closure-pending)."""
    deadline = time.monotonic() + 15
    while True:
        closed = evaluation.world.client.post(
            f"/v1/cases/{case_id}/close", json={"resolution": "no_further_action"},
            headers={**evaluation.staff(case_id), "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        if closed.status_code != 409 or time.monotonic() > deadline:
            return closed
        time.sleep(0.05)


def test_another_schools_case_is_a_404(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report()
    other = evaluation.world.other_school_headers()

    put = evaluation.put_grid(case_id, refs[0], {"answers": IMPULSIVE}, headers=other)
    get = evaluation.assessment(case_id, headers=other)

    assert put.status_code == get.status_code == 404


def test_grids_are_opened_once_per_report_and_once_more_per_added_student(
    evaluation: Evaluation,
) -> None:
    case_id, _ = evaluation.report()
    added = evaluation.world.client.post(
        f"/v1/cases/{case_id}/students", json={"name": "Ondine Faraway", "role": "receiver"},
        headers=evaluation.world.headers(),
    )  # fmt: skip
    assert added.status_code == 201

    deadline = time.monotonic() + 15
    while types(evaluation, case_id).count("grids_opened") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    view = evaluation.assessment(case_id).json()
    assert len(view["pending_students"]) == 4


def test_protocols_are_listed_with_their_content_hash(evaluation: Evaluation) -> None:
    headers = evaluation.world.headers(Role.ANALYST, subject="an-1")

    listed = evaluation.client.get("/v1/protocols", headers=headers).json()
    one = evaluation.client.get("/v1/protocols/sexto-qc/1", headers=headers).json()

    old, new = (p for p in protocols.all_versions() if p.name == "sexto-qc")
    assert {"name": "sexto-qc", "version": 1, "id": old.id} in listed
    assert {"name": "sexto-qc", "version": 2, "id": new.id} in listed
    assert one["id"] == old.id
    assert one["grid"]["fields"]


def test_a_retried_grid_with_its_key_is_recorded_once(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report()
    headers = {**evaluation.world.headers(), "Idempotency-Key": "grid-retry-0001"}
    for ref in refs[:-1]:
        evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE})

    first = evaluation.put_grid(case_id, refs[-1], {"answers": IMPULSIVE}, headers=headers)
    retry = evaluation.put_grid(case_id, refs[-1], {"answers": IMPULSIVE}, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert first.json()["assessed"] is True
    names = [e.envelope.type for e in evaluation.events(case_id)]
    assert sum(n.endswith("grid_submitted.v1") for n in names) == len(refs)
    assert sum(n.endswith("assessment_made.v2") for n in names) == 1
