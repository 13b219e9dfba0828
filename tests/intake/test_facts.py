"""Further facts, each an event, checked against the case's state and protocol version."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sexto_protocols as protocols
from sexto_events.model import CaseRef

from tests.intake.conftest import World, sexto_report


def open_case(world: World) -> tuple[str, list[str]]:
    body = world.report(sexto_report(world.school)).json()
    world.wait_for_case(body["case_id"])
    return body["case_id"], [s["student_ref"] for s in body["students"]]


def post(world: World, case_id: str, path: str, body: dict[str, Any], **headers: str) -> Any:
    return world.client.post(
        f"/v1/cases/{case_id}/{path}", json=body, headers={**world.headers(), **headers}
    )


def log_types(world: World, case_id: str) -> list[str]:
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    loaded = world.client.portal.call(runtime.store.load, CaseRef(world.territory, case_id))  # type: ignore[union-attr]
    return [e.envelope.type.split(".")[3] for e in loaded.events]


def test_each_fact_is_an_event_on_the_case(world: World) -> None:
    case_id, refs = open_case(world)

    results = [
        post(world, case_id, "devices",
             {"owner_ref": refs[1], "measure": "flight_mode", "seal_number": "SX-0001"}),
        post(world, case_id, "checklist/device_secured", {}),
        post(world, case_id, "students", {"name": "Ilse Brackenbury", "role": "receiver"}),
        post(world, case_id, f"students/{refs[2]}/role",
             {"role": "receiver", "reason": "she received it and did not forward it"}),
        post(world, case_id, "notes", {"text": "parents met at 15:00"}),
        post(world, case_id, "actions-not-taken",
             {"action": "search_device", "justification": "not lawful for staff"}),
        post(world, case_id, "close", {"resolution": "educational_meeting_held"}),
    ]  # fmt: skip

    assert [r.status_code for r in results] == [201] * 7, [r.text for r in results]
    versions = [r.json()["version"] for r in results]
    assert versions == sorted(versions)
    assert log_types(world, case_id)[-7:] == [
        "device_secured", "checklist_step_completed", "student_added", "student_role_changed",
        "note_added", "action_not_taken", "case_closed",
    ]  # fmt: skip


def test_an_action_not_taken_is_a_code_so_no_name_is_stored_in_clear(world: World) -> None:
    case_id, _ = open_case(world)

    response = post(world, case_id, "actions-not-taken",
                    {"action": "did not call Isolde's mother", "justification": "x"})  # fmt: skip

    assert response.status_code == 422
    assert "action" in response.text


def test_a_step_outside_the_protocol_version_is_refused(world: World) -> None:
    case_id, _ = open_case(world)

    response = post(world, case_id, "checklist/view_the_photo", {})

    assert response.status_code == 422
    assert response.json()["type"].endswith("/unknown-checklist-step")
    steps = [s.id for s in protocols.current("sexto-qc").checklist]
    assert all(step in response.json()["detail"] for step in steps)


def test_the_report_records_its_protocol_version(world: World) -> None:
    case_id, _ = open_case(world)
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    loaded = world.client.portal.call(runtime.store.load, CaseRef(world.territory, case_id))  # type: ignore[union-attr]

    assert loaded.events[0].envelope.protocolversion == protocols.current("sexto-qc").id


def test_a_device_of_an_unknown_student_is_refused(world: World) -> None:
    case_id, _ = open_case(world)

    response = post(world, case_id, "devices", {"owner_ref": "nobody", "measure": "switched_off"})

    # An unknown student on a case is a 404 in every service (evaluation's grids too).
    assert response.status_code == 404
    assert response.json()["type"].endswith("/unknown-student")


def test_nothing_is_recorded_on_a_closed_case(world: World) -> None:
    case_id, _ = open_case(world)
    assert post(world, case_id, "close", {"resolution": "no_further_action"}).status_code == 201
    before = log_types(world, case_id)

    response = post(world, case_id, "notes", {"text": "late note"})

    assert response.status_code == 409
    assert response.json()["type"].endswith("/case-closed")
    assert log_types(world, case_id) == before


def test_a_retried_fact_with_its_key_is_recorded_once(world: World) -> None:
    case_id, _ = open_case(world)
    key = uuid.uuid4().hex

    first = post(
        world, case_id, "notes", {"text": "called the parents"}, **{"Idempotency-Key": key}
    )
    again = post(
        world, case_id, "notes", {"text": "called the parents"}, **{"Idempotency-Key": key}
    )

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert log_types(world, case_id).count("note_added") == 1


def test_facts_on_another_schools_case_are_a_404(world: World) -> None:
    case_id, _ = open_case(world)

    response = world.client.post(
        f"/v1/cases/{case_id}/notes", json={"text": "x"}, headers=world.other_school_headers()
    )

    assert response.status_code == 404
    assert response.json()["type"].endswith("/case-not-found")


def test_twenty_independent_facts_sent_at_once_all_go_in_each_once(world: World) -> None:
    case_id, refs = open_case(world)
    writes: list[tuple[str, dict[str, Any]]] = [
        *[("notes", {"text": f"note {i}"}) for i in range(8)],
        *[("devices", {"owner_ref": refs[i % len(refs)], "measure": "switched_off",
                       "seal_number": f"SX-{i:04d}"}) for i in range(6)],
        *[("students", {"name": f"Invented Student {i}", "role": "bystander"}) for i in range(6)],
    ]  # fmt: skip

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda w: post(world, case_id, *w), writes))

    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 20
    types = log_types(world, case_id)
    assert types.count("note_added") == 8
    assert types.count("device_secured") == 6
    assert types.count("student_added") == 6


def test_a_fact_right_after_the_report_is_recorded_without_waiting(world: World) -> None:
    """Whoever got the 201 may record the next fact at once, before the read model has the
    case: the case is found on the log, in the territory of the caller's school."""
    for _ in range(5):
        case_id = world.report(sexto_report(world.school)).json()["case_id"]
        note = world.client.post(
            f"/v1/cases/{case_id}/notes", json={"text": "written at once"},
            headers=world.headers(),
        )  # fmt: skip
        assert note.status_code == 201, note.text
    elsewhere = world.client.post(
        f"/v1/cases/{case_id}/notes", json={"text": "not my school's"},
        headers=world.other_school_headers(),
    )  # fmt: skip
    assert elsewhere.status_code == 404
