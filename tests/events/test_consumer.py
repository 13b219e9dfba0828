"""The consumer runtime against real NATS and PostgreSQL: exactly-once effects, dead letters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
import uuid_utils
from nats.aio.client import Client
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.consumer import ConsumerSettings, DurableConsumer, consumer_info
from sexto_events.errors import ChainBroken
from sexto_events.migrate import migrate_runtime
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore
from sexto_legal.verification import verify_case

from tests.support.events import note, reported
from tests.support.projections import EventCounter
from tests.support.raw import envelope_for, publish_raw

ROOT = Path(__file__).resolve().parents[2]


def _sealed_note() -> dict[str, str]:
    """A note field that looks sealed; never opened, the event is parked before decoding."""
    return {"$sealed": "A256GCM", "kid": "case:x", "iv": "AAAAAAAAAAAAAAAA", "ct": "AAAA"}


async def write_cases(
    store: EventStore, territory: str, cases: int, notes: int
) -> dict[str, list[int]]:
    """Cases of 1 report + `notes` notes each, interleaved; returns each case's sequences."""
    refs = [CaseRef(territory, uuid.uuid4().hex) for _ in range(cases)]
    versions = {r: CaseVersion.new() for r in refs}
    seqs: dict[str, list[int]] = {f"{r.territory}/{r.case_id}": [] for r in refs}
    for step in range(notes + 1):
        for ref in refs:
            event = reported(student_ref=f"s{ref.case_id[:6]}") if step == 0 else note(f"n{step}")
            result = await store.append(ref, [event], versions[ref])
            versions[ref] = result.version
            seqs[f"{ref.territory}/{ref.case_id}"] += result.seqs
    return seqs


async def counts(pool: asyncpg.Pool, schema: str) -> dict[str, list[int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT case_key, n, seqs FROM {schema}.event_counts")
    assert all(r["n"] == len(r["seqs"]) for r in rows)
    return {r["case_key"]: list(r["seqs"]) for r in rows}


async def wait_until(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def schema(postgres: EmbeddedPostgres) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    await migrate_runtime(postgres.dsn, name)
    return name


def spawn_consumer(
    nats_server: NatsServer, postgres: EmbeddedPostgres, schema: str, durable: str, subject: str
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.consumer_proc", nats_server.url, postgres.dsn,
         schema, durable, subject],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.slow
async def test_a_consumer_killed_mid_batch_and_restarted_applies_each_event_once(
    nc: Client,
    store: EventStore,
    pool: asyncpg.Pool,
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    schema: str,
) -> None:
    territory = f"t{uuid.uuid4().hex[:10]}"
    expected = await write_cases(store, territory, cases=8, notes=24)
    durable = f"tests-{schema}"
    subject = f"cases.{territory}.>"

    first = spawn_consumer(nats_server, postgres, schema, durable, subject)
    await wait_until(lambda: _applied(pool, schema, at_least=60))
    os.kill(first.pid, signal.SIGKILL)  # no chance to finish its batch or ack
    first.wait()
    partial = sum(len(s) for s in (await counts(pool, schema)).values())
    assert 0 < partial < 200

    second = spawn_consumer(nats_server, postgres, schema, durable, subject)
    try:
        await wait_until(lambda: _applied(pool, schema, at_least=200))
        await wait_until(lambda: _settled(nc, durable))
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait()

    assert await counts(pool, schema) == expected


async def _applied(pool: asyncpg.Pool, schema: str, at_least: int) -> bool:
    async with pool.acquire() as conn:
        exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.event_counts")
        if exists is None:
            return False
        total = await conn.fetchval(f"SELECT coalesce(sum(n), 0) FROM {schema}.event_counts")
    return bool(total >= at_least)


async def _settled(nc: Client, durable: str, stream: str = "CASES") -> bool:
    info = await consumer_info(nc, stream, durable)
    return bool(info["num_ack_pending"] == 0 and info["num_pending"] == 0)


async def test_an_effect_committed_but_not_acknowledged_is_not_applied_again(
    nc: Client, store: EventStore, pool: asyncpg.Pool, schema: str
) -> None:
    territory = f"t{uuid.uuid4().hex[:10]}"
    expected = await write_cases(store, territory, cases=2, notes=3)
    consumer = DurableConsumer(
        nc=nc, pool=pool, decoder=store.decoder, schema=schema, durable=f"tests-{schema}",
        handler=EventCounter(schema), filter_subject=f"cases.{territory}.>",
        settings=ConsumerSettings(ack_wait_s=1.0),
    )  # fmt: skip
    await consumer.setup()
    sub = await nc.jetstream().pull_subscribe_bind(consumer.durable, "CASES")
    # Crash window: the transaction committed, the process died before acknowledging.
    await consumer._apply_in_tx(await consumer._decode_all(await sub.fetch(8, timeout=2)))
    await sub.unsubscribe()

    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _settled(nc, consumer.durable), timeout=30)
    finally:
        consumer.stop()
        await task

    assert await counts(pool, schema) == expected
    assert await consumer.position() == max(max(s) for s in expected.values())


async def test_a_poison_event_is_parked_after_its_deliveries_and_later_events_flow(
    nc: Client, store: EventStore, pool: asyncpg.Pool, schema: str
) -> None:
    territory = f"t{uuid.uuid4().hex[:10]}"
    case = CaseRef(territory, uuid.uuid4().hex)
    other = CaseRef(territory, uuid.uuid4().hex)
    v = (await store.append(case, [reported(student_ref="p1")], CaseVersion.new())).version
    poison = await store.append(case, [note("poison")], v)
    await store.append(case, [note("after the poison")], poison.version)
    await store.append(other, [reported(student_ref="p2")], CaseVersion.new())
    consumer = DurableConsumer(
        nc=nc, pool=pool, decoder=store.decoder, schema=schema, durable=f"tests-{schema}",
        handler=EventCounter(schema), filter_subject=f"cases.{territory}.>",
        settings=ConsumerSettings(max_deliver=3, backoff_s=(0.2,), wait_for_predecessor_s=0.2),
    )  # fmt: skip
    await consumer.setup()
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _settled(nc, consumer.durable), timeout=30)
    finally:
        consumer.stop()
        await task

    applied = await counts(pool, schema)
    case_key = f"{case.territory}/{case.case_id}"
    assert applied[case_key] == [v.seq, poison.version.seq + 1]
    assert len(applied[f"{other.territory}/{other.case_id}"]) == 1
    async with pool.acquire() as conn:
        letters = await conn.fetch(f"SELECT * FROM {schema}.dead_letters")
    assert len(letters) == 1
    assert letters[0]["stream_seq"] == poison.version.seq
    assert letters[0]["deliveries"] == 3
    assert letters[0]["error_type"] == "Poisoned"
    assert letters[0]["event_type"] == "org.sexto.intake.note_added.v1"


async def consume_side_territory(
    nc: Client,
    side_store: EventStore,
    pool: asyncpg.Pool,
    schema: str,
    territory: str,
    settings: ConsumerSettings,
) -> None:
    """Run a counting consumer over one territory of the side stream until it has settled."""
    spec = side_store.spec
    consumer = DurableConsumer(
        nc=nc, pool=pool, decoder=side_store.decoder, schema=schema, durable=f"tests-{schema}",
        handler=EventCounter(schema), stream=spec.name,
        filter_subject=f"{spec.subject_root}.{territory}.>", settings=settings,
    )  # fmt: skip
    await consumer.setup()
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _settled(nc, consumer.durable, spec.name), timeout=30)
    finally:
        consumer.stop()
        await task


async def test_an_event_whose_predecessor_never_comes_is_parked_not_waited_on_forever(
    nc: Client, side_store: EventStore, pool: asyncpg.Pool, schema: str
) -> None:
    # On a stream of its own: every service's projection would wait on this gap too.
    territory = f"t{uuid.uuid4().hex[:10]}"
    case = CaseRef(territory, uuid.uuid4().hex)
    # A first event claiming a predecessor that is not in the log (a gap in the chain).
    note_type = "org.sexto.intake.note_added.v1"
    orphan = envelope_for(case, note_type, {"text": _sealed_note()}, "f" * 64)
    orphan = orphan.model_copy(update={"id": str(uuid_utils.uuid7())}).sealed("f" * 64)
    await publish_raw(nc, side_store, case, "intake.note_added", orphan.to_bytes())
    settings = ConsumerSettings(max_deliver=2, backoff_s=(0.1,), wait_for_predecessor_s=0.1,
                                max_waits=3)  # fmt: skip
    await consume_side_territory(nc, side_store, pool, schema, territory, settings)

    async with pool.acquire() as conn:
        letters = await conn.fetch(f"SELECT * FROM {schema}.dead_letters")
    assert len(letters) == 1
    assert letters[0]["error_type"] == "PoisonEvent"
    assert "waited too long" in letters[0]["error"]


async def test_an_event_filed_under_another_contexts_subject_is_refused_everywhere(
    nc: Client, side_store: EventStore, pool: asyncpg.Pool, schema: str
) -> None:
    # NATS permissions let a service publish only its own contexts' subjects; a body of
    # another context's type (an escalation written by notification, say) under such a
    # subject must not be taken for that type by consumers, loads or the verifier.
    territory = f"t{uuid.uuid4().hex[:10]}"
    case = CaseRef(territory, uuid.uuid4().hex)
    forged = envelope_for(case, "org.sexto.intake.note_added.v1", {"text": _sealed_note()}, "")
    await publish_raw(nc, side_store, case, "notification.delivery_attempted", forged.to_bytes())

    with pytest.raises(ChainBroken, match="another event type's subject"):
        await side_store.load(case)
    report = await verify_case(side_store, case)
    assert not report.ok
    assert report.reason == "stored under another event type's subject"

    settings = ConsumerSettings(max_deliver=2, backoff_s=(0.1,))
    await consume_side_territory(nc, side_store, pool, schema, territory, settings)
    async with pool.acquire() as conn:
        letters = await conn.fetch(f"SELECT * FROM {schema}.dead_letters")
        counted = await conn.fetch(f"SELECT * FROM {schema}.event_counts")
    assert [r["error_type"] for r in letters] == ["PoisonEvent"]
    assert letters[0]["error"].endswith("stored under another event type's subject")
    assert counted == []
