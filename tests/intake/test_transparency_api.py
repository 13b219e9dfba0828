"""The transparency log over REST, for legal reviewers: the newest checkpoint, inclusion and
consistency proofs that verify against it, and problems that say what to fix."""

from __future__ import annotations

import base64
import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sexto_events.model import CaseRef
from sexto_events.principal import Role
from sexto_intake.entrypoints.legal import RETRY_S, _transparency_refusals
from sexto_legal import tlog_check as t
from sexto_legal.transparency.api import TreeBehind, TreeFault, TreeUnavailable
from sexto_legal.transparency.evidence import NotWitnessed
from sexto_legal.transparency.store import ProofRequestError
from sexto_service.problems import ServerErrors, install_problem_handlers

from tests.intake.conftest import World
from tests.intake.test_history import new_case
from tests.intake.test_legal_api import PROBLEM, reviewer


def checkpoint(world: World, stack: dict[str, str]) -> t.Checkpoint:
    answer = world.client.get("/v1/legal/transparency/checkpoint", headers=reviewer(world))
    assert answer.status_code == 200, answer.text
    note = answer.json()["checkpoint"].encode()
    witness = t.parse_vkey(json.loads(stack["SEXTO_TLOG_WITNESSES"])[0])
    t.require_quorum(note, [witness], 1)
    return t.open_checkpoint(
        note, t.parse_vkey(stack["SEXTO_WITNESS_LOG_VKEY"]), "sexto.local/cases"
    )


def hashes(answer: dict[str, list[str]]) -> list[bytes]:
    return [base64.b64decode(h) for h in answer["proof"]]


def test_checkpoints_and_proofs_verify(world: World, transparency_stack: dict[str, str]) -> None:
    case_id = new_case(world)
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    report = world.client.portal.call(  # type: ignore[union-attr]
        runtime.store.read_raw, CaseRef(world.territory, case_id)
    )[0]
    world.client.get(  # an export asks for a checkpoint covering the case
        f"/v1/legal/cases/{case_id}/export", headers=reviewer(world)
    )
    first = checkpoint(world, transparency_stack)
    world.client.get(f"/v1/legal/cases/{new_case(world)}/export", headers=reviewer(world))
    second = checkpoint(world, transparency_stack)
    assert second.size > first.size

    consistency = world.client.get(
        "/v1/legal/transparency/proofs/consistency",
        params={"from": first.size, "to": second.size}, headers=reviewer(world),
    )  # fmt: skip
    assert consistency.status_code == 200, consistency.text
    t.verify_consistency(first.size, second.size, first.root, second.root,
                         hashes(consistency.json()))  # fmt: skip

    leaves = world.client.get(f"/v1/legal/cases/{case_id}/transparency", headers=reviewer(world))
    index = leaves.json()["leaves"][0]["index"]
    leaf = t.event_leaf(report.seq, world.territory, case_id, 0, None, report.body)
    for cp in (first, second):
        inclusion = world.client.get(
            "/v1/legal/transparency/proofs/inclusion",
            params={"index": index, "size": cp.size}, headers=reviewer(world),
        )  # fmt: skip
        assert inclusion.status_code == 200, inclusion.text
        t.verify_inclusion(index, cp.size, t.leaf_hash(leaf), hashes(inclusion.json()), cp.root)


def test_bad_sizes_and_indices_are_problems_that_say_what_to_fix(
    world: World, transparency_stack: dict[str, str]
) -> None:
    size = checkpoint(world, transparency_stack).size
    beyond = world.client.get(
        "/v1/legal/transparency/proofs/inclusion",
        params={"index": 0, "size": size + 10**9}, headers=reviewer(world),
    )  # fmt: skip
    assert beyond.status_code == 422, beyond.text
    assert beyond.headers["content-type"] == PROBLEM
    assert f"tree size {size + 10**9} is beyond the tree's" in beyond.json()["detail"]
    outside = world.client.get(
        "/v1/legal/transparency/proofs/inclusion",
        params={"index": size, "size": size}, headers=reviewer(world),
    )  # fmt: skip
    assert outside.status_code == 422
    assert f"leaf index {size} is not in a tree of size {size}" in outside.json()["detail"]
    backwards = world.client.get(
        "/v1/legal/transparency/proofs/consistency",
        params={"from": size, "to": 1}, headers=reviewer(world),
    )  # fmt: skip
    assert backwards.status_code == 422
    assert "must be between 0 and the newer 1" in backwards.json()["detail"]
    negative = world.client.get(
        "/v1/legal/transparency/proofs/inclusion",
        params={"index": -1, "size": size}, headers=reviewer(world),
    )  # fmt: skip
    assert negative.status_code in (400, 422)
    assert negative.headers["content-type"] == PROBLEM


def test_other_roles_are_refused(world: World) -> None:
    for path in ("checkpoint", "proofs/inclusion?index=0&size=1", "proofs/consistency?from=0&to=1"):
        refused = world.client.get(f"/v1/legal/transparency/{path}", headers=world.headers())
        assert refused.status_code == 403, refused.text
        analyst = world.headers(Role.ANALYST, subject="an-1")
        assert (
            world.client.get(f"/v1/legal/transparency/{path}", headers=analyst).status_code == 403
        )


def test_a_cases_leaves_prove_its_stored_events_and_their_number(
    world: World, transparency_stack: dict[str, str]
) -> None:
    case_id = new_case(world)
    answer = world.client.get(f"/v1/legal/cases/{case_id}/transparency", headers=reviewer(world))
    assert answer.status_code == 200, answer.text
    found = answer.json()
    log_key = t.parse_vkey(transparency_stack["SEXTO_WITNESS_LOG_VKEY"])
    assert found["log_key"] == log_key.vkey()
    cp = t.open_checkpoint(found["checkpoint"].encode(), log_key, "sexto.local/cases")
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    case = CaseRef(world.territory, case_id)
    stored = world.client.portal.call(runtime.store.read_raw, case)  # type: ignore[union-attr]
    leaves = found["leaves"]
    assert len(leaves) == len(stored) >= 2  # the report and the read of this very answer
    previous = None
    for position, (leaf, message) in enumerate(zip(leaves, stored, strict=True)):
        assert (leaf["seq"], leaf["case_index"], leaf["prev_leaf"]) == (
            message.seq, position, previous,
        )  # fmt: skip
        body = t.event_leaf(message.seq, case.territory, case_id, position, previous, message.body)
        t.verify_inclusion(leaf["index"], cp.size, t.leaf_hash(body), hashes(leaf), cp.root)
        previous = leaf["index"]
    head = t.parse_case_head(t.verify_note(found["case_head"].encode(), log_key))
    assert (head.size, head.root, head.case_size, head.last_leaf) == (
        cp.size, cp.root, len(stored), previous,
    )  # fmt: skip


def test_tree_refusals_are_problems_that_say_whether_to_fix_or_retry() -> None:
    refusals: dict[str, Exception] = {
        "invalid": ProofRequestError("leaf index 9 is not in a tree of size 3 (0..2)"),
        "not-yet": TreeBehind("the tree has not reached that stream sequence within 10 s"),
        "not-witnessed": NotWitnessed("checkpoint has 0 valid cosignature(s)"),
        "away": TreeUnavailable("the transparency tree process did not answer"),
        "fault": TreeFault("the tree could not answer (KeyError)"),
    }
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(ServerErrors)

    @app.get("/{name}")
    async def refused(name: str) -> None:
        with _transparency_refusals():
            raise refusals[name]

    client = TestClient(app, raise_server_exceptions=False)
    invalid = client.get("/invalid")
    assert (invalid.status_code, invalid.headers["content-type"]) == (422, PROBLEM)
    assert "leaf index 9 is not in a tree of size 3" in invalid.json()["detail"]
    not_yet = client.get("/not-yet")
    assert (not_yet.status_code, not_yet.headers["Retry-After"]) == (503, str(RETRY_S))
    assert f"retry in {RETRY_S} s" in not_yet.json()["detail"]
    witnessless = client.get("/not-witnessed")
    assert witnessless.status_code == 503
    assert "no witness cosigned" in witnessless.json()["detail"]
    assert "Retry-After" not in witnessless.headers
    away = client.get("/away")
    assert away.status_code == 503
    assert "did not answer" in away.json()["detail"]
    fault = client.get("/fault")
    assert (fault.status_code, fault.headers["content-type"]) == (500, PROBLEM)
