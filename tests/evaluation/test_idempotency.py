"""A grid under the one Idempotency-Key mechanism: another body with the key is refused."""

from __future__ import annotations

import uuid

from tests.evaluation.conftest import Evaluation
from tests.evaluation.test_grids import IMPULSIVE, MALICIOUS


def test_a_grid_key_reused_for_another_grid_is_a_422_that_records_nothing(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report()
    headers = {**evaluation.world.headers(), "Idempotency-Key": uuid.uuid4().hex}
    first = evaluation.put_grid(case_id, refs[0], {"answers": IMPULSIVE}, headers=headers)
    again = evaluation.put_grid(case_id, refs[0], {"answers": IMPULSIVE}, headers=headers)
    before = [e.id for e in evaluation.events(case_id)]

    other = evaluation.put_grid(case_id, refs[0], {"answers": MALICIOUS}, headers=headers)
    french = evaluation.put_grid(
        case_id, refs[0], {"answers": MALICIOUS}, headers={**headers, "Accept-Language": "fr-CA"}
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert other.status_code == french.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert french.json()["title"] == "Idempotency-Key déjà utilisée"
    assert [e.id for e in evaluation.events(case_id)] == before


def test_an_unknown_student_is_a_404_in_french(evaluation: Evaluation) -> None:
    case_id, _ = evaluation.report()
    headers = {**evaluation.world.headers(), "Accept-Language": "fr"}

    answer = evaluation.put_grid(case_id, "stu-nobody", {"answers": IMPULSIVE}, headers=headers)

    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/unknown-student")
    assert answer.json()["title"] == "Élève inconnu"
    assert answer.json()["detail"].startswith("l'élève stu-nobody n'est pas au dossier")
