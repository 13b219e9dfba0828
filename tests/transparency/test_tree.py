"""The tree process on real NATS and PostgreSQL: one leaf per message in stream order,
checkpoints signed, cosigned and published, proofs served, crash-safe."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client
from sexto_events.catalogue.intake import CaseClosed
from sexto_events.direct_get import StoredMessage
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore
from sexto_legal import tlog_check as t
from sexto_legal.transparency import api, merkle
from sexto_legal.transparency.api import TreeBehind, TreeFault
from sexto_legal.transparency.signing import Signer
from sexto_legal.transparency.store import ProofRequestError
from sexto_legal.transparency.tree import TreeProcess, stop_tasks
from sexto_legal.transparency.witness import witness_subject

from tests.events.test_consumer import wait_until
from tests.support.events import note, reported
from tests.support.transparency import (
    LOG_KEY,
    ORIGIN,
    TreeRun,
    WitnessRun,
    all_messages,
    event_settings,
    from_scratch,
    stored,
    tree_settings,
)

ROOT = Path(__file__).resolve().parents[2]


async def write(store: EventStore, cases: int, notes: int) -> list[CaseRef]:
    refs = [CaseRef(f"t{uuid.uuid4().hex[:8]}", uuid.uuid4().hex) for _ in range(cases)]
    versions = {r: CaseVersion.new() for r in refs}
    for step in range(notes + 1):
        for ref in refs:
            event = reported(student_ref="stu-1") if step == 0 else note(f"n{step}")
            versions[ref] = (await store.append(ref, [event], versions[ref])).version
    return refs


async def test_the_tree_holds_every_message_in_stream_order_and_serves_verifiable_proofs(
    nc: Client, side_store: EventStore, tree: TreeRun, witness: WitnessRun, tree_pool: asyncpg.Pool
) -> None:
    refs = await write(side_store, cases=3, notes=6)
    messages = await all_messages(nc, side_store)
    note_bytes = await tree.client.checkpoint(covers_seq=messages[-1].seq)

    checkpoint = t.open_checkpoint(note_bytes, LOG_KEY.verifier, ORIGIN)
    assert checkpoint.size == len(messages) == 21
    assert t.require_quorum(note_bytes, [witness.signer.verifier], 1) == [witness.signer.name]
    expected = from_scratch(messages)
    assert checkpoint.root == merkle.root_of(21, expected)
    assert await stored(tree_pool) == expected

    for index in (0, 7, 20):
        proof = await tree.client.inclusion(index, checkpoint.size)
        leaf = t.leaf_hash(_leaf_of(messages, index))
        t.verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root)

    case = await tree.client.case(refs[1].territory, refs[1].case_id, messages[-1].seq)
    assert [leaf["case_index"] for leaf in case.leaves] == list(range(7))
    assert [leaf["index"] for leaf in case.leaves] == [1 + 3 * k for k in range(7)]
    assert case.leaves[0]["prev_leaf"] is None
    assert [leaf["prev_leaf"] for leaf in case.leaves[1:]] == [1 + 3 * k for k in range(6)]
    head = t.parse_case_head(t.verify_note(case.head_statement, LOG_KEY.verifier))
    assert (head.size, head.root, head.case_size, head.last_leaf) == (21, checkpoint.root, 7, 19)


def _leaf_of(messages: list[StoredMessage], index: int) -> bytes:
    counts: dict[str, tuple[int, int | None]] = {}
    leaf = b""
    for position, message in enumerate(messages[: index + 1]):
        _, territory, case_id = message.subject.split(".")[:3]
        count, prev = counts.get(case_id, (0, None))
        leaf = t.event_leaf(message.seq, territory, case_id, count, prev, message.body)
        counts[case_id] = (count + 1, position)
    return leaf


async def test_checkpoints_grow_consistently_are_published_and_the_witness_follows(
    nc: Client, side_store: EventStore, tree: TreeRun, witness: WitnessRun
) -> None:
    await write(side_store, cases=2, notes=2)
    first = t.open_checkpoint(await tree.client.checkpoint(covers_seq=6), LOG_KEY.verifier, ORIGIN)
    await write(side_store, cases=2, notes=3)
    messages = await all_messages(nc, side_store)
    second_note = await tree.client.checkpoint(covers_seq=messages[-1].seq)
    second = t.open_checkpoint(second_note, LOG_KEY.verifier, ORIGIN)
    assert (first.size, second.size) == (6, 14)
    proof = await tree.client.consistency(first.size, second.size)
    t.verify_consistency(first.size, second.size, first.root, second.root, proof)
    assert witness.witness.latest is not None
    assert witness.witness.latest.size == 14
    t.cosignature_time(second_note, witness.signer.verifier)

    stream = tree.process.settings.checkpoint_stream
    info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", 5)).data)
    assert info["state"]["messages"] >= 2
    get = json.dumps({"last_by_subj": f"{stream.lower()}.published"}).encode()
    last = json.loads((await nc.request(f"$JS.API.STREAM.MSG.GET.{stream}", get, 5)).data)
    published = base64.b64decode(last["message"]["data"])
    assert t.open_checkpoint(published, LOG_KEY.verifier, ORIGIN).size == 14


async def test_bad_proof_requests_name_what_to_fix(tree: TreeRun, side_store: EventStore) -> None:
    await write(side_store, cases=1, notes=2)
    await tree.client.checkpoint(covers_seq=3)
    with pytest.raises(ProofRequestError, match="leaf index 3 is not in a tree of size 3"):
        await tree.client.inclusion(3, 3)
    with pytest.raises(ProofRequestError, match="tree size 9 is beyond the tree's 3 leaves"):
        await tree.client.inclusion(0, 9)
    with pytest.raises(ProofRequestError, match="older size 3 must be between 0 and the newer 2"):
        await tree.client.consistency(3, 2)


async def test_tree_refusals_say_whether_to_fix_retry_or_blame_the_tree(
    nc: Client, tree: TreeRun, side_store: EventStore, tree_pool: asyncpg.Pool
) -> None:
    await write(side_store, cases=1, notes=2)
    await tree.client.checkpoint(covers_seq=3)
    subject = f"{tree.process.prefix}.{api.INCLUSION}"
    reply = await nc.request(subject, json.dumps({"index": "one", "size": 3}).encode(), 5)
    assert json.loads(reply.data) == {"error": "`index` must be a whole number, not 'one'",
                                      "kind": api.INVALID}  # fmt: skip
    tree.process.settings.request_wait_s = 0.2
    with pytest.raises(TreeBehind, match=r"not reached that stream sequence within 0\.2 s; retry"):
        await tree.client.checkpoint(covers_seq=10**6)
    async with tree_pool.acquire() as conn:  # a stored node lost: the tree's fault, not ours
        await conn.execute("DELETE FROM transparency.tree_nodes WHERE level = 0 AND idx = 0")
    with pytest.raises(TreeFault, match=r"the tree could not answer \(KeyError\)"):
        await tree.client.inclusion(1, 3)


async def test_the_tree_refuses_to_start_without_a_witness_outside_development(
    nc: Client, tree_pool: asyncpg.Pool, side_store: EventStore
) -> None:
    settings = tree_settings([], uuid.uuid4().hex[:8])
    production = event_settings(side_store).model_copy(update={"environment": "production"})
    with pytest.raises(ValueError, match="no witness configured in the production environment"):
        TreeProcess(nc, tree_pool, LOG_KEY, settings, production)
    TreeProcess(nc, tree_pool, LOG_KEY, settings, event_settings(side_store))  # development


@pytest.mark.slow
async def test_a_tree_process_killed_mid_batch_resumes_to_the_tree_built_from_scratch(
    nc: Client, side_store: EventStore, tree_dsn: str, tree_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await write(side_store, cases=10, notes=39)  # 400 messages
    token = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "SEXTO_NATS_URL": nc.connected_url.geturl() if nc.connected_url else "",
        "SEXTO_DATABASE_URL": tree_dsn,
        "SEXTO_STREAM_NAME": side_store.spec.name,
        "SEXTO_SUBJECT_ROOT": side_store.spec.subject_root,
        "SEXTO_TLOG_ORIGIN": ORIGIN,
        "SEXTO_TLOG_KEY_FILE": str(tmp_path / "log.key"),
        "SEXTO_TLOG_BATCH": "3",
        "SEXTO_TLOG_CHECKPOINT_STREAM": f"CP{token.upper()}",
    }

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "sexto_legal.transparency.tree"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip

    async def size() -> int:
        async with tree_pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('transparency.tree_state')") is None:
                return 0
            return int(await conn.fetchval("SELECT size FROM transparency.tree_state") or 0)

    first = spawn()
    try:
        await wait_until(lambda: _at_least(size(), 60))
    finally:
        os.kill(first.pid, signal.SIGKILL)  # no chance to finish its batch
        first.wait()
    partial = await size()
    assert 0 < partial < 400
    second = spawn()
    try:
        await wait_until(lambda: _at_least(size(), 400))
    finally:
        os.kill(second.pid, signal.SIGKILL)
        second.wait()
    messages = await all_messages(nc, side_store)
    assert await stored(tree_pool) == from_scratch(messages)
    async with tree_pool.acquire() as conn:
        seqs = [r["seq"] for r in await conn.fetch(
            "SELECT seq FROM transparency.tree_leaves ORDER BY idx")]  # fmt: skip
    assert seqs == [m.seq for m in messages]


async def _at_least(size: Awaitable[int], wanted: int) -> bool:
    return await size >= wanted


async def test_a_case_closure_is_checkpointed_at_once(
    nc: Client, side_store: EventStore, tree_pool: asyncpg.Pool, witness: WitnessRun
) -> None:
    settings = tree_settings([witness.signer], uuid.uuid4().hex[:8], checkpoint_interval_s=3600)
    process = TreeProcess(nc, tree_pool, LOG_KEY, settings, event_settings(side_store))
    await process.setup()
    task = asyncio.create_task(process.run())
    try:
        (case,) = await write(side_store, cases=1, notes=2)
        await wait_until(lambda: process.appender.size == 3)
        assert process.latest_size() is None  # growing, but the interval is an hour away
        version = (await side_store.load(case)).version
        closed = NewEvent(CaseClosed(resolution="educational_path_completed"), "iv-7",
                          "intervener")  # fmt: skip
        await side_store.append(case, [closed], version)
        await wait_until(lambda: process.latest_size() == 4)
    finally:
        await stop_tasks({task})  # cancelled again if a cancellation is lost
        await process.close()


async def test_a_request_waiting_for_the_tree_does_not_hold_up_the_others(
    tree: TreeRun, side_store: EventStore
) -> None:
    await write(side_store, cases=1, notes=2)
    await tree.client.checkpoint(covers_seq=3)
    tree.process.settings.request_wait_s = 30.0
    waiting = asyncio.create_task(tree.client.checkpoint(covers_seq=10**6))
    try:
        await wait_until(lambda: tree.process._waiters)
        note = await tree.client.checkpoint(covers_seq=3)  # the same subject, answered first
        assert t.open_checkpoint(note, LOG_KEY.verifier, ORIGIN).size == 3
        assert not waiting.done()
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)


async def test_a_witness_that_never_answers_does_not_hold_up_the_appending(
    nc: Client, side_store: EventStore, tree_pool: asyncpg.Pool
) -> None:
    silent = Signer("witness.test/silent", t.SIG_COSIGNATURE_V1, bytes(range(9, 41)))
    asked = asyncio.Event()

    async def never_answer(msg: object) -> None:
        asked.set()

    sub = await nc.subscribe(witness_subject(silent.verifier), cb=never_answer)
    settings = tree_settings([silent], uuid.uuid4().hex[:8], checkpoint_interval_s=3600,
                             witness_timeout_s=120)  # fmt: skip
    process = TreeProcess(nc, tree_pool, LOG_KEY, settings, event_settings(side_store))
    await process.setup()
    task = asyncio.create_task(process.run())
    try:
        (case,) = await write(side_store, cases=1, notes=0)
        closed = NewEvent(CaseClosed(resolution="educational_path_completed"), "iv-7",
                          "intervener")  # fmt: skip
        await side_store.append(case, [closed], (await side_store.load(case)).version)
        await asyncio.wait_for(asked.wait(), 30)  # the closure's checkpoint awaits the witness
        await write(side_store, cases=2, notes=1)
        await wait_until(lambda: process.appender.size == 6, timeout=30)
        assert process.latest_size() is None  # still waiting for the witness, off the path
    finally:
        await stop_tasks({task})  # cancelled again if a cancellation is lost
        await process.close()
        await sub.unsubscribe()


async def test_a_tree_at_the_head_waits_for_more_before_its_next_batch(
    nc: Client, side_store: EventStore, tree_pool: asyncpg.Pool, witness: WitnessRun
) -> None:
    # Each batch is a transaction and a disk flush beside the log's own: a tree following
    # busy writers takes what is there, then waits `idle_wait_s`, instead of committing a
    # few leaves at a time; a full batch (catching up) is followed by the next at once.
    settings = tree_settings([witness.signer], uuid.uuid4().hex[:8], checkpoint_interval_s=3600,
                             batch=2, idle_wait_s=3600)  # fmt: skip
    process = TreeProcess(nc, tree_pool, LOG_KEY, settings, event_settings(side_store))
    await process.setup()
    batches: list[int] = []
    step = process.step

    async def counted() -> int:
        batches.append(await step())
        return batches[-1]

    process.step = counted  # type: ignore[method-assign]
    await write(side_store, cases=1, notes=2)  # three messages before the tree starts
    task = asyncio.create_task(process.run())
    try:
        await wait_until(lambda: process.appender.size == 3)
        await asyncio.sleep(0.3)
        assert batches == [2, 1]  # no read right after the partial batch
    finally:
        await stop_tasks({task})  # cancelled again if a cancellation is lost
        await process.close()
