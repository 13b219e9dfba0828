"""A student seen before, recognised by the school's student number (a keyed blind index,
per territory), forgotten once shredded; and a bag recorded late."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from sexto_events.catalogue.legal import ErasureReason
from sexto_events.principal import Principal, Role
from sexto_intake.app.handlers import handle_fact
from sexto_legal.erasure import shred_subject

from tests.intake.conftest import World, sexto_report


def with_numbers(school: str, *numbers: str | None) -> dict[str, Any]:
    body = sexto_report(school)
    for student, number in zip(body["students"], numbers, strict=False):
        if number is not None:
            student["student_number"] = number
    return body


def events_of(world: World, case_id: str) -> list[Any]:
    world.wait_for_case(case_id)  # the read model has it (the history's scope is read there)
    response = world.client.get(f"/v1/cases/{case_id}/history", headers=world.headers())
    return list(response.json()["events"])


def test_a_student_of_an_earlier_case_is_noted_on_the_new_one(world: World) -> None:
    number = f"S{uuid.uuid4().hex[:8]}"
    first = world.report(with_numbers(world.school, None, number)).json()
    # The same student, another school of the same territory, the number typed otherwise.
    again = world.report(
        with_numbers(world.other_school, f" {number.lower()} "),
        headers=world.other_school_headers(),
    )

    assert again.status_code == 201, again.text
    case = again.json()
    assert [s["earlier_cases"] for s in first["students"]] == [0, 0, 0]
    assert [s["earlier_cases"] for s in case["students"]] == [1, 0, 0]
    noted = [e for e in events_of(world, first["case_id"])
             if e["type"].endswith("prior_involvement_noted.v1")]  # fmt: skip
    assert noted == []
    state = world.wait_for_case(
        case["case_id"], world.other_school_headers(), min_version=case["version"]
    ).json()
    assert [s["earlier_cases"] for s in state["students"]] == [1, 0, 0]
    history = world.client.get(
        f"/v1/cases/{case['case_id']}/history", headers=world.other_school_headers()
    ).json()["events"]
    [event] = [e for e in history if e["type"].endswith("prior_involvement_noted.v1")]
    assert event["data"] == {"student_ref": case["students"][0]["student_ref"], "earlier_cases": 1}
    # Never the number: not in an event, not in the read model, not in the index.
    recorded = [history, events_of(world, first["case_id"]), state, world.student_index()]
    everything = json.dumps(recorded, default=str)
    assert number not in everything
    assert number.lower() not in everything


def test_analysts_and_school_admins_never_see_the_warning(world: World) -> None:
    number = f"S{uuid.uuid4().hex[:8]}"
    world.report(with_numbers(world.school, number))
    case_id = world.report(with_numbers(world.school, number)).json()["case_id"]
    world.wait_for_case(case_id)

    for headers in (
        world.headers(Role.ANALYST, subject="an-1"),
        world.headers(Role.SCHOOL_ADMIN, subject="sa-1", school=world.school),
    ):
        state = world.client.get(f"/v1/cases/{case_id}", headers=headers).json()
        history = world.client.get(f"/v1/cases/{case_id}/history", headers=headers).json()
        assert {json.dumps(s["earlier_cases"]) for s in state["students"]} == {'{"withheld": true}'}
        [noted] = [e for e in history["events"] if e["type"].endswith("prior_involvement_noted.v1")]
        assert noted["data"]["earlier_cases"] == {"withheld": True}


def test_another_territory_never_recognises_the_student(world: World) -> None:
    number = f"S{uuid.uuid4().hex[:8]}"
    world.report(with_numbers(world.school, number))
    uk = sexto_report(world.uk_school, protocol="uk-dsl")
    uk["students"][0]["student_number"] = number

    case = world.report(uk, headers=world.dsl_headers()).json()

    assert [s["earlier_cases"] for s in case["students"]] == [0, 0, 0]


def test_a_shredded_student_is_no_longer_recognised(world: World) -> None:
    number = f"S{uuid.uuid4().hex[:8]}"
    first = world.report(with_numbers(world.school, number)).json()
    ref = first["students"][0]["student_ref"]
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    subject = f"student:{first['case_id']}:{ref}"

    async def shred() -> None:
        reviewer = Principal("legal-1", Role.LEGAL_REVIEWER)
        await shred_subject(runtime.nc, runtime.store, runtime.vault, subject, reviewer,
                            reason=ErasureReason.ERASURE_REQUEST)  # fmt: skip

    world.client.portal.call(shred)  # type: ignore[union-attr]
    deadline = time.monotonic() + 15
    while any(r["subject_key"] == subject for r in world.student_index()):
        assert time.monotonic() < deadline, "the index entry outlived the erasure"
        time.sleep(0.05)

    later = world.report(with_numbers(world.school, number)).json()

    assert [s["earlier_cases"] for s in later["students"]] == [0, 0, 0]


def test_a_student_added_later_is_recognised_too(world: World) -> None:
    number = f"S{uuid.uuid4().hex[:8]}"
    world.report(with_numbers(world.school, number))
    case = world.report(sexto_report(world.school)).json()
    world.wait_for_case(case["case_id"])
    body = {"name": "Invented Latecomer", "role": "receiver", "student_ref": "late-1",
            "student_number": number}  # fmt: skip

    added = world.client.post(
        f"/v1/cases/{case['case_id']}/students", json=body, headers=world.headers()
    )

    assert added.status_code == 201, added.text
    version = added.json()["version"]
    state = world.client.get(
        f"/v1/cases/{case['case_id']}?min_version={version}", headers=world.headers()
    ).json()
    assert {s["student_ref"]: s["earlier_cases"] for s in state["students"]}["late-1"] == 1


def test_a_bag_found_later_is_recorded_with_when_who_and_why(world: World) -> None:
    case = world.report(sexto_report(world.school)).json()
    world.wait_for_case(case["case_id"])
    ref = case["students"][1]["student_ref"]
    body = {"owner_ref": ref, "measure": "switched_off", "seal_number": f"B-{uuid.uuid4().hex[:6]}",
            "late": {"secured_at": "2026-11-02T10:05:00-05:00", "secured_by": "iv-colleague",
                     "reason": "the bag was found in the vice-principal's drawer"}}  # fmt: skip
    future = {**body, "seal_number": "B-future",
              "late": {**body["late"], "secured_at": "2999-01-01T00:00:00Z"}}  # fmt: skip

    recorded = world.client.post(
        f"/v1/cases/{case['case_id']}/devices", json=body, headers=world.headers()
    )
    refused = world.client.post(
        f"/v1/cases/{case['case_id']}/devices", json=future, headers=world.headers()
    )

    assert recorded.status_code == 201, recorded.text
    assert refused.status_code == 422
    [device] = [e for e in events_of(world, case["case_id"])
                if e["type"].endswith("device_secured.v3")]  # fmt: skip
    assert device["data"]["late"] == {
        "secured_at": "2026-11-02T10:05:00-05:00",
        "secured_by": "iv-colleague",
        "reason": "the bag was found in the vice-principal's drawer",
    }
    assert device["actor"] == world.intervener  # who recorded it


def test_a_student_added_without_a_ref_retried_after_a_503_is_indexed_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = world.report(sexto_report(world.school)).json()
    world.wait_for_case(case["case_id"])
    body = {"name": "Invented Unnamed", "role": "receiver",
            "student_number": f"S{uuid.uuid4().hex[:8]}"}  # fmt: skip
    headers = {**world.headers(), "Idempotency-Key": uuid.uuid4().hex}
    record = handle_fact
    entry = "sexto_intake.entrypoints.facts.handle_fact"  # as the route calls it

    async def recorded_then_cut(*args: Any, **kwargs: Any) -> tuple[str, int]:
        await record(*args, **kwargs)
        raise ConnectionError("connection reset after the write")  # the answer is lost

    path = f"/v1/cases/{case['case_id']}/students"
    monkeypatch.setattr(entry, recorded_then_cut)
    lost = world.client.post(path, json=body, headers=headers)
    monkeypatch.setattr(entry, record)
    retried = world.client.post(path, json=body, headers=headers)

    assert lost.status_code == 503, lost.text
    assert retried.status_code == 201, retried.text
    added = [e for e in events_of(world, case["case_id"]) if ".student_added." in e["type"]]
    assert len(added) == 1
    indexed = [r["student_ref"] for r in world.student_index() if r["case_id"] == case["case_id"]]
    assert len(indexed) == 1
