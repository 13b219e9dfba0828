"""The case's lifecycle across intake, evaluation and escalation, on the real stack: every
assessment followed, closure guarded both ways, the queue's words, victims' support."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sexto_events.principal import Role

from tests.escalation.conftest import Path3
from tests.evaluation.test_grids import IMPULSIVE, MALICIOUS, NO_FACTOR

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, within: float = 15) -> T:
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def data_of(path3: Path3, case_id: str, suffix: str) -> list[Any]:
    return [e.data for e in path3.evaluation.events(case_id) if e.envelope.type.endswith(suffix)]


def queue_row(path3: Path3, case_id: str, **query: str) -> dict[str, Any] | None:
    headers = path3.police_headers(path3.territory_of(case_id))
    rows = path3.police.get("/v1/escalations", params=query, headers=headers).json()
    return next((r for r in rows if r["case_id"] == case_id), None)


def close(path3: Path3, case_id: str) -> Any:
    return path3.world.client.post(
        f"/v1/cases/{case_id}/close",
        json={"resolution": "handled"},
        headers=path3.evaluation.staff(case_id),
    )


def test_an_amended_grid_raises_the_urgency_for_the_police_and_the_queue(path3: Path3) -> None:
    case_id, refs = path3.evaluation.report()
    for ref in refs:
        assert path3.evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE}).status_code == 201
    first = path3.wait_for_escalation(case_id)

    amended = path3.evaluation.put_grid(
        case_id, refs[1], {"answers": MALICIOUS, "reason": "a prior incident came to light"}
    )

    assert amended.status_code == 201, amended.text
    changes = eventually(
        lambda: data_of(path3, case_id, "escalation.urgency_changed.v1"), "never followed"
    )
    change = changes[0]
    assessments = [
        e
        for e in path3.evaluation.events(case_id)
        if e.envelope.type.endswith("assessment_made.v2")
    ]
    assert change.previous_urgency == first["urgency"]
    assert change.urgency == assessments[-1].data.urgency  # type: ignore[attr-defined]
    assert change.assessment_event_id == assessments[-1].id
    assert change.calls_for_police is True
    amended_student = next(s for s in change.students if s.student_ref == refs[1])
    assert amended_student.indication == "malicious"
    assert amended_student.rules_fired
    assert (change.previous_urgency, change.urgency, change.change) == (
        "routine",
        "urgent",
        "raised",
    )
    eventually(
        lambda: (queue_row(path3, case_id) or {}).get("urgency") == "urgent",
        "the queue never re-ordered",
    )
    # The request stands, once; the same assessment seen again records nothing more.
    assert len(data_of(path3, case_id, "escalation.requested.v2")) == 1
    assert len(changes) == 1


def test_a_uk_assessment_no_longer_calling_the_police_is_recorded_and_the_request_stands(
    path3: Path3,
) -> None:
    case_id, refs = path3.evaluation.report(protocol="uk-dsl")
    factor = {**NO_FACTOR, "external_coercion": "yes"}
    for index, ref in enumerate(refs):
        answers = factor if index == 0 else NO_FACTOR
        assert path3.evaluation.put_grid(case_id, ref, {"answers": answers}).status_code == 201
    path3.wait_for_escalation(case_id)

    withdrawn = path3.evaluation.put_grid(
        case_id, refs[0], {"answers": NO_FACTOR, "reason": "the coercion was a misunderstanding"}
    )

    assert withdrawn.status_code == 201, withdrawn.text
    change = eventually(
        lambda: data_of(path3, case_id, "escalation.urgency_changed.v1"), "never followed"
    )[0]
    assert change.calls_for_police is False
    assert change.recommendation == "manage_in_school"
    assert queue_row(path3, case_id) is not None  # never withdrawn silently


def test_closure_is_refused_while_escalation_steps_are_due_and_refuses_steps_after(
    path3: Path3,
) -> None:
    case_id, refs = path3.evaluation.report(protocol="uk-dsl")
    factor = {**NO_FACTOR, "widely_distributed": "yes"}
    for ref in refs:
        assert path3.evaluation.put_grid(case_id, ref, {"answers": factor}).status_code == 201
    path3.wait_for_escalation(case_id)
    dsl = path3.world.dsl_headers()

    too_early = close(path3, case_id)
    police = path3.step(case_id, "referral", {"agency": "police", "reference": "P-1"}, dsl)
    care = path3.step(
        case_id, "referral", {"agency": "childrens_social_care", "reference": "CSC-2"}, dsl
    )
    closed = eventually(
        lambda: (answer := close(path3, case_id)).status_code == 201 and answer, "never closed"
    )
    after = path3.step(
        case_id, "referral", {"agency": "other", "agency_name": "camhs", "reference": "C-3"}, dsl
    )
    support = path3.step(
        case_id, f"support/{refs[0]}", {"kind": "image_removal", "reference": "NCMEC-41"}, dsl
    )

    assert too_early.status_code == 409, too_early.text
    assert too_early.json()["type"].endswith("/closure-pending")
    assert too_early.json()["pending"] == ["refer"]
    assert (police.status_code, care.status_code) == (201, 201), care.text
    assert closed.status_code == 201
    assert after.status_code == 409
    assert after.json()["type"].endswith("/case-closed")
    assert after.json()["open_after_closure"] == ["decide", "offer_support"]
    assert support.status_code == 201, support.text
    eventually(lambda: queue_row(path3, case_id) is None, "a closed case stays in the queue")
    assert (queue_row(path3, case_id, status="closed") or {}).get("status") == "closed"


def test_a_sexto_case_lists_every_step_still_due(path3: Path3) -> None:
    case_id, refs = path3.escalated_case()
    path3.step(case_id, "acknowledge", {"call_reference": "911-44"})

    refused = eventually(
        lambda: (
            (r := close(path3, case_id)).status_code == 409
            and "acknowledge" not in r.json()["pending"]
            and r
        ),
        "intake never saw the acknowledgement",
    )

    assert refused.json()["pending"] == [
        "collect_kit",
        "consult_prosecutor",
        f"decide:{refs[1]}",
        f"decide:{refs[2]}",
    ]
    fr = path3.world.client.post(
        f"/v1/cases/{case_id}/close",
        json={"resolution": "handled"},
        headers={**path3.world.headers(), "Accept-Language": "fr"},
    )
    assert "ne peut être fermé" in fr.json()["detail"]


def test_a_victim_is_met_and_offered_support_by_reference_never_decided(path3: Path3) -> None:
    case_id, refs = path3.escalated_case()
    officer = path3.police_headers(role=Role.POLICE_OFFICER)
    victim = refs[0]  # only depicted

    scheduled = path3.step(case_id, f"meetings/{victim}", {"at": "2026-11-25T10:00:00-05:00"},
                           officer)  # fmt: skip
    held = path3.step(case_id, f"meetings/{victim}/held",
                      {"attended": ["depicted_student", "depicted_students_parents"]},
                      officer)  # fmt: skip
    cavac = path3.step(case_id, f"support/{victim}",
                       {"kind": "victim_assistance", "reference": "CAVAC-2026-17"},
                       officer)  # fmt: skip
    again = path3.step(case_id, f"support/{victim}",
                       {"kind": "victim_assistance", "reference": "CAVAC-2026-18"},
                       officer)  # fmt: skip
    image = path3.step(case_id, f"support/{victim}",
                       {"kind": "image_removal", "reference": "https://x/y.png",
                        "data": "..."}, officer)  # fmt: skip
    by_dispatch_intervener = path3.step(
        case_id, f"support/{victim}", {"kind": "counselling", "reference": "CLSC-3"},
        path3.world.headers(),
    )  # fmt: skip

    assert (scheduled.status_code, held.status_code, cavac.status_code) == (201, 201, 201)
    assert again.status_code == 409
    assert image.status_code == 422  # references only: unknown fields refused
    assert by_dispatch_intervener.status_code == 201, by_dispatch_intervener.text
    offered = data_of(path3, case_id, "escalation.support_offered.v1")
    assert [(s.kind, s.reference) for s in offered] == [
        ("victim_assistance", "CAVAC-2026-17"),
        ("counselling", "CLSC-3"),
    ]
