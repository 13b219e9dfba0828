"""Protocol versions stay with their cases; races write one assessment; rebuilds match."""

from __future__ import annotations

import copy
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sexto_protocols as protocols
from sexto_events.chain import canonical_json
from sexto_service.runtime import rebuild_read_model

from tests.evaluation.conftest import Evaluation
from tests.evaluation.test_grids import IMPULSIVE
from tests.support.services import settled_rows


def published_next() -> protocols.ProtocolVersion:
    """A stricter next version of sexto-qc: a romantic exchange is no longer impulsive."""
    shipped = protocols.current("sexto-qc")
    raw = copy.deepcopy(shipped.raw)
    raw["version"] = shipped.version + 1
    raw["rules"] = [r for r in raw["rules"] if r["id"] != "impulsive_context"]
    digest = hashlib.sha256(canonical_json(raw)).hexdigest()
    return protocols.ProtocolVersion(
        "sexto-qc", raw["version"], f"sha256:{digest}", shipped.checklist, raw
    )


def test_a_case_reported_under_one_version_is_assessed_under_it_after_the_next_is_published(
    evaluation: Evaluation, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = protocols.current("sexto-qc")
    old_case, old_refs = evaluation.report()
    v2 = published_next()
    shipped = protocols.all_versions()
    monkeypatch.setattr(protocols, "all_versions", lambda: (*shipped, v2))
    assert protocols.current("sexto-qc") is v2
    new_case, new_refs = evaluation.report()

    for case_id, refs in ((old_case, old_refs), (new_case, new_refs)):
        for ref in refs:
            assert evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE}).status_code == 201

    old = evaluation.assessment(old_case).json()["assessment"]
    new = evaluation.assessment(new_case).json()["assessment"]
    assert old["protocol_version"] == v1.id
    assert old["students"][0]["indication"] == "impulsive"
    assert new["protocol_version"] == v2.id
    assert new["students"][0]["indication"] == "undetermined"


def test_grids_submitted_at_once_give_exactly_one_assessment(evaluation: Evaluation) -> None:
    case_id, refs = evaluation.report()

    with ThreadPoolExecutor(len(refs)) as pool:
        responses = list(
            pool.map(lambda ref: evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE}), refs)
        )

    assert [r.status_code for r in responses] == [201] * len(refs), [r.text for r in responses]
    types = [e.envelope.type for e in evaluation.events(case_id)]
    assert sum(t.endswith("grid_submitted.v1") for t in types) == len(refs)
    assert sum(t.endswith("assessment_made.v2") for t in types) == 1
    assert sum(r.json()["assessed"] for r in responses) == 1


def test_dropping_the_read_model_and_replaying_the_log_rebuilds_it_identically(
    evaluation: Evaluation,
) -> None:
    case_id, refs = evaluation.report()
    for ref in refs:
        evaluation.put_grid(case_id, ref, {"answers": IMPULSIVE})
    runtime = evaluation.client.app.state.runtime  # type: ignore[attr-defined]
    consumer = next(c for c in runtime.consumers if c.handler.name == "cases")

    async def settled_dump() -> list[tuple[Any, ...]]:
        query = "SELECT * FROM evaluation.cases ORDER BY case_id"
        return await settled_rows(runtime, consumer, query)

    call = evaluation.client.portal.call  # type: ignore[union-attr]
    before = call(settled_dump)
    call(rebuild_read_model, runtime, "cases")
    after = call(settled_dump)

    assert after == before
    assert any(row[0] == case_id for row in before)
