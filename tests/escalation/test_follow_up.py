"""After the decision: educational meetings; on the UK path: the DSL's referral."""

from __future__ import annotations

import time

from sexto_events.principal import Role

from tests.escalation.conftest import Path3
from tests.evaluation.test_grids import NO_FACTOR


def decided_case(path3: Path3) -> tuple[str, list[str]]:
    case_id, refs = path3.escalated_case()
    prosecutor = path3.world.headers(
        Role.PROSECUTOR, subject="dpcp-1", territory=path3.world.territory
    )
    seals = [{"seal_number": s, "intact": True} for s in ("SX-1", "SX-2")]
    for path, body in (("acknowledge", {"call_reference": "911-9"}),
                       ("kit-collected", {"seals": seals}),
                       ("prosecutor-consulted", {"dpcp_file_reference": "F-9"})):  # fmt: skip
        assert path3.step(case_id, path, body).status_code == 201
    # refs[0] is only depicted (victim track): no decision about them.
    for index, ref in enumerate(refs[1:], start=1):
        decision = {"decision": "malicious" if index == 1 else "impulsive", "reasons": "grid"}
        assert (
            path3.step(case_id, f"decisions/{ref}", decision, headers=prosecutor).status_code == 201
        )
    return case_id, refs


def test_an_educational_meeting_is_scheduled_then_held_for_an_impulsive_decision(
    path3: Path3,
) -> None:
    case_id, refs = decided_case(path3)
    officer = path3.police_headers(role=Role.POLICE_OFFICER)

    held_early = path3.step(case_id, f"meetings/{refs[2]}/held", {"attended": ["student"]}, officer)
    scheduled = path3.step(
        case_id, f"meetings/{refs[2]}", {"at": "2026-11-25T10:00:00-05:00"}, officer
    )
    held = path3.step(
        case_id, f"meetings/{refs[2]}/held",
        {"attended": ["student", "parents", "community_relations_officer"]}, officer,
    )  # fmt: skip
    twice = path3.step(case_id, f"meetings/{refs[2]}/held", {"attended": ["student"]}, officer)
    malicious = path3.step(
        case_id, f"meetings/{refs[1]}", {"at": "2026-11-25T10:00:00-05:00"}, officer
    )

    assert held_early.status_code == 409
    assert (scheduled.status_code, held.status_code) == (201, 201)
    assert twice.status_code == 409
    assert malicious.status_code == 409
    # Who may be met: the student decided impulsive, and the victim (met too).
    assert set(malicious.json()["allowed"]) == {f"meeting for {refs[2]}", f"meeting for {refs[0]}"}


def test_the_dsl_records_the_referral_of_an_escalated_uk_case(path3: Path3) -> None:
    case_id, refs = path3.evaluation.report(protocol="uk-dsl")
    for index, ref in enumerate(refs):
        answers = {**NO_FACTOR, "external_coercion": "yes"} if index == 0 else NO_FACTOR
        assert path3.evaluation.put_grid(case_id, ref, {"answers": answers}).status_code == 201
    path3.wait_for_escalation(case_id)
    dsl = path3.world.dsl_headers()
    referral = {"agency": "childrens_social_care", "reference": "CSC-2026-118"}

    first = path3.step(case_id, "referral", referral, dsl)
    again = path3.step(case_id, "referral", referral, dsl)
    by_police = path3.step(case_id, "referral", referral)

    assert first.status_code == 201, first.text
    assert again.status_code == 409
    assert by_police.status_code == 403
    deadline = time.monotonic() + 5
    while not any(e.envelope.type.endswith("referral_recorded.v2")
                  for e in path3.evaluation.events(case_id)):  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.05)
