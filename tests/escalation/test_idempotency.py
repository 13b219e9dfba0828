"""Escalation's steps under the one Idempotency-Key mechanism, and its refusals in French."""

from __future__ import annotations

import uuid

from sexto_events.principal import Role

from tests.escalation.conftest import Path3
from tests.escalation.test_workflow import event_names

FRENCH = {"Accept-Language": "fr"}


def test_a_step_replayed_with_its_key_answers_the_same_and_records_nothing(path3: Path3) -> None:
    case_id, _ = path3.escalated_case()
    headers = {**path3.police_headers(), "Idempotency-Key": uuid.uuid4().hex}
    first = path3.step(case_id, "acknowledge", {"call_reference": "911-7"}, headers)
    before = event_names(path3, case_id)

    again = path3.step(case_id, "acknowledge", {"call_reference": "911-7"}, headers)
    other = path3.step(case_id, "acknowledge", {"call_reference": "911-8"}, headers)

    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert event_names(path3, case_id) == before
    assert before.count("escalation.acknowledged") == 1


def test_an_illegal_step_is_a_409_in_french_with_the_allowed_steps(path3: Path3) -> None:
    case_id, refs = path3.escalated_case()
    prosecutor = path3.world.headers(
        Role.PROSECUTOR, subject="dpcp-1", territory=path3.world.territory
    )

    early = path3.step(case_id, f"decisions/{refs[1]}", {"decision": "impulsive", "reasons": "r"},
                       headers={**prosecutor, **FRENCH})  # fmt: skip
    by_school = path3.step(case_id, "acknowledge", {"call_reference": "911-9"},
                           headers={**path3.world.headers(), **FRENCH})  # fmt: skip

    assert early.status_code == 409
    assert early.headers["content-language"] == "fr"
    assert early.json()["title"] == "Étape non permise maintenant"
    assert early.json()["allowed"] == ["acknowledge"]
    assert early.json()["detail"].startswith("une décision n'est pas permise maintenant")
    assert "étapes permises ensuite : ['acknowledge']" in early.json()["detail"]
    assert by_school.status_code == 403
    assert by_school.json()["title"] == "Interdit"
    assert "cette étape est franchie par police_dispatch, police_officer" in by_school.text


def test_a_step_whose_answer_was_lost_is_found_on_the_record_and_not_taken_twice(
    path3: Path3,
) -> None:
    # The append was stored but the answer lost (the acknowledgement timed out, the key's
    # record never written): the retry finds its step by the id derived from the key.
    case_id, _ = path3.escalated_case()
    key = uuid.uuid4().hex
    headers = {**path3.police_headers(), "Idempotency-Key": key}
    first = path3.step(case_id, "acknowledge", {"call_reference": "911-7"}, headers)
    runtime = path3.police.app.state.runtime  # type: ignore[attr-defined]

    async def forget() -> None:
        async with runtime.pool.acquire() as conn:
            await conn.execute("DELETE FROM escalation.idempotency_keys WHERE key = $1", key)

    path3.police.portal.call(forget)  # type: ignore[union-attr]
    again = path3.step(case_id, "acknowledge", {"call_reference": "911-7"}, headers)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert event_names(path3, case_id).count("escalation.acknowledged") == 1
