"""From assessment to the prosecutor's decision, with custody and illegal steps refused."""

from __future__ import annotations

import time

from sexto_events.principal import Role

from tests.escalation.conftest import Path3
from tests.evaluation.test_grids import NO_FACTOR


def event_names(path3: Path3, case_id: str) -> list[str]:
    return [".".join(e.envelope.type.split(".")[2:4]) for e in path3.evaluation.events(case_id)]


def test_the_full_sexto_flow_to_the_prosecutors_decisions(path3: Path3) -> None:
    case_id, refs = path3.escalated_case()
    request = next(
        e for e in path3.evaluation.events(case_id) if e.envelope.type.endswith("requested.v2")
    )
    assert request.data.urgency == "urgent"  # type: ignore[attr-defined]
    assert "Maëlle" not in request.envelope.model_dump_json()  # police get refs, not names
    students = request.data.students  # type: ignore[attr-defined]
    assert [(s.roles, s.track) for s in students] == [
        (["depicted"], "victim"),
        (["sender"], "offender"),
        (["redistributor"], "offender"),
    ]
    prosecutor = path3.world.headers(
        Role.PROSECUTOR, subject="dpcp-1", territory=path3.world.territory
    )

    # refs[0] is only depicted: a victim, never decided about; the two others are.
    steps = [
        path3.step(case_id, "acknowledge", {"call_reference": "911-2026-0042"}),
        path3.step(case_id, "kit-collected", {"seals": [
            {"seal_number": "SX-1", "intact": True}, {"seal_number": "SX-2", "intact": True}]}),
        path3.step(case_id, "prosecutor-consulted", {"dpcp_file_reference": "DPCP-77"}),
    ] + [
        path3.step(case_id, f"decisions/{ref}",
                   {"decision": "malicious" if i == 1 else "impulsive", "reasons": "per the grid"},
                   headers=prosecutor)
        for i, ref in enumerate(refs) if i > 0
    ]  # fmt: skip

    assert [s.status_code for s in steps] == [201] * 5, [s.text for s in steps]
    names = event_names(path3, case_id)
    decided = ["escalation.prosecutor_decided"] * 2
    steps_done = ["escalation.acknowledged", "escalation.kit_collected"]
    assert names[-5:] == [*steps_done, "escalation.prosecutor_consulted", *decided]
    decisions = [
        e.data
        for e in path3.evaluation.events(case_id)
        if e.envelope.type.endswith("prosecutor_decided.v1")
    ]
    assert [d.follow_up for d in decisions] == [  # type: ignore[attr-defined]
        "investigation_opened",
        "educational_meeting_required",
    ]
    kit = next(
        e.data
        for e in path3.evaluation.events(case_id)
        if e.envelope.type.endswith("kit_collected.v1")
    )
    assert kit.flagged is False  # type: ignore[attr-defined]
    victim = path3.step(case_id, f"decisions/{refs[0]}",
                        {"decision": "impulsive", "reasons": "r"}, headers=prosecutor)  # fmt: skip
    assert victim.status_code == 409
    assert victim.json()["type"].endswith("/not-an-offender")
    assert "victim track" in victim.json()["detail"]


def test_police_see_the_escalated_case_in_intake_too(path3: Path3) -> None:
    case_id, _ = path3.escalated_case()
    deadline = time.monotonic() + 15
    while True:
        response = path3.world.client.get(f"/v1/cases/{case_id}", headers=path3.police_headers())
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)

    assert response.status_code == 200


def test_illegal_steps_are_409_with_the_allowed_next_steps(path3: Path3) -> None:
    case_id, refs = path3.escalated_case()
    prosecutor = path3.world.headers(
        Role.PROSECUTOR, subject="dpcp-1", territory=path3.world.territory
    )

    early = path3.step(case_id, f"decisions/{refs[1]}",
                       {"decision": "impulsive", "reasons": "r"}, headers=prosecutor)  # fmt: skip
    assert early.status_code == 409
    assert early.json()["allowed"] == ["acknowledge"]

    path3.step(case_id, "acknowledge", {"call_reference": "911-1"})
    kit = {
        "seals": [{"seal_number": "SX-1", "intact": True}, {"seal_number": "SX-2", "intact": True}]
    }
    assert path3.step(case_id, "kit-collected", kit).status_code == 201
    twice = path3.step(case_id, "kit-collected", kit)
    assert twice.status_code == 409
    assert twice.json()["allowed"] == ["consult_prosecutor"]

    path3.step(case_id, "prosecutor-consulted", {"dpcp_file_reference": "F-1"})
    unknown = path3.step(case_id, "decisions/stu-nobody",
                         {"decision": "impulsive", "reasons": "r"}, headers=prosecutor)  # fmt: skip
    # An unknown student on a case is a 404 in every service (it was a 409 here); the
    # answer still lists the steps allowed next.
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/unknown-student")
    assert all(a.startswith("decide for") for a in unknown.json()["allowed"])


def test_a_seal_mismatch_or_broken_seal_is_flagged_in_the_custody_log(path3: Path3) -> None:
    case_id, _ = path3.escalated_case()
    path3.step(case_id, "acknowledge", {"call_reference": "911-2"})

    seals = [{"seal_number": "SX-1", "intact": False}, {"seal_number": "SX-9", "intact": True}]
    response = path3.step(case_id, "kit-collected", {"seals": seals})

    assert response.status_code == 201
    kit = next(
        e.data
        for e in path3.evaluation.events(case_id)
        if e.envelope.type.endswith("kit_collected.v1")
    )
    assert kit.flagged is True  # type: ignore[attr-defined]
    assert kit.missing_seals == ["SX-2"]  # type: ignore[attr-defined]
    assert kit.unexpected_seals == ["SX-9"]  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while True:
        custody = path3.police.get(
            f"/v1/cases/{case_id}/custody", headers=path3.police_headers()
        ).json()
        states = {b["seal_number"]: b["seal_state"] for b in custody.get("bags", [])}
        if states.get("SX-2") == "missing at collection" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert states["SX-1"] == "broken"
    assert states["SX-2"] == "missing at collection"
    assert states["SX-9"].startswith("intact; never recorded")


def test_another_territorys_escalation_is_a_404(path3: Path3) -> None:
    case_id, _ = path3.escalated_case()
    elsewhere = path3.police_headers(territory=path3.world.bare_territory)

    response = path3.step(case_id, "acknowledge", {"call_reference": "911-3"}, headers=elsewhere)
    queue = path3.police.get("/v1/escalations", headers=elsewhere).json()

    assert response.status_code == 404
    assert case_id not in {e["case_id"] for e in queue}


def test_a_school_managed_uk_case_never_escalates(path3: Path3) -> None:
    case_id, refs = path3.evaluation.report(protocol="uk-dsl")
    for ref in refs:
        assert path3.evaluation.put_grid(case_id, ref, {"answers": NO_FACTOR}).status_code == 201
    # An escalated case reported after this one: once it is escalated, this one was seen.
    later, _ = path3.escalated_case()

    assert later
    assert not any(n.startswith("escalation.") for n in event_names(path3, case_id))
