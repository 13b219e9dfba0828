"""A tree process over a side stream (`side_store`), in a database of its own, with a
witness: for the transparency tests and for exports of side-stream cases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.db import create_pool
from sexto_events.direct_get import DirectReader, StoredMessage
from sexto_events.settings import EventLogSettings
from sexto_events.store import EventStore
from sexto_legal import tlog_check as t
from sexto_legal.transparency import merkle, store
from sexto_legal.transparency.api import TreeClient
from sexto_legal.transparency.settings import TreeSettings
from sexto_legal.transparency.signing import Signer
from sexto_legal.transparency.tree import TreeProcess, stop_tasks
from sexto_legal.transparency.witness import Witness, witness_subject

ORIGIN = "sexto.test/cases"


async def fresh_database(dsn: str) -> str:
    """A new database on the server of `dsn` (the tree's schema name is fixed)."""
    name = f"tlog_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def tree_dsn(postgres: EmbeddedPostgres) -> str:
    """A fresh database: the tree's schema is fixed, so each test gets a database."""
    return await fresh_database(postgres.dsn)


@pytest.fixture
async def tree_pool(tree_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(tree_dsn, max_size=4)
    yield pool
    await pool.close()


@dataclass
class WitnessRun:
    witness: Witness
    signer: Signer
    sub: Subscription


@pytest.fixture
async def witness(nc: Client, tmp_path: Path) -> AsyncIterator[WitnessRun]:
    """A witness answering on NATS, keyed afresh, watching the test log's key."""
    signer = Signer(f"witness.test/{uuid.uuid4().hex[:6]}", t.SIG_COSIGNATURE_V1,
                    uuid.uuid4().bytes * 2)  # fmt: skip
    run = Witness(signer, LOG_KEY.verifier, ORIGIN, tmp_path / "witness-state")
    sub = await nc.subscribe(witness_subject(signer.verifier), cb=run.on_request)
    yield WitnessRun(run, signer, sub)
    await sub.unsubscribe()


LOG_KEY = Signer(ORIGIN, t.SIG_ED25519, bytes(range(7, 39)))


def tree_settings(witnesses: list[Signer], token: str, **more: object) -> TreeSettings:
    return TreeSettings(
        origin=ORIGIN,
        witnesses=[w.verifier.vkey() for w in witnesses],
        checkpoint_stream=f"CP{token.upper()}",
        **more,  # type: ignore[arg-type]
    )


def event_settings(side_store: EventStore) -> EventLogSettings:
    return EventLogSettings(
        stream_name=side_store.spec.name, subject_root=side_store.spec.subject_root
    )


@dataclass
class TreeRun:
    process: TreeProcess
    client: TreeClient
    task: asyncio.Task[None]


@pytest.fixture
async def tree(
    nc: Client, tree_pool: asyncpg.Pool, side_store: EventStore, witness: WitnessRun
) -> AsyncIterator[TreeRun]:
    """The tree process running in this event loop, over the side stream."""
    token = uuid.uuid4().hex[:8]
    settings = tree_settings([witness.signer], token, checkpoint_interval_s=0.2)
    process = TreeProcess(nc, tree_pool, LOG_KEY, settings, event_settings(side_store))
    await process.setup()
    task = asyncio.create_task(process.run())
    yield TreeRun(process, TreeClient(nc, side_store.spec.name), task)
    await stop_tasks({task})  # cancelled again if a cancellation is lost
    await process.close()


async def all_messages(nc: Client, side_store: EventStore) -> list[StoredMessage]:
    reader = DirectReader(nc, side_store.spec.name)
    try:
        return await reader.read(f"{side_store.spec.subject_root}.>")
    finally:
        await reader.close()


def from_scratch(messages: list[StoredMessage]) -> dict[merkle.NodeKey, bytes]:
    """The tree built in memory from the stream's messages (no database, no process)."""
    nodes: dict[merkle.NodeKey, bytes] = {}
    heads: dict[tuple[str, str], tuple[int, int | None]] = {}
    for index, message in enumerate(messages):
        territory, case_id = store.case_of(message.subject)
        count, prev = heads.get((territory, case_id), (0, None))
        leaf = t.event_leaf(message.seq, territory, case_id, count, prev, message.body)
        nodes.update(merkle.appended_nodes(index, t.leaf_hash(leaf), nodes))
        heads[(territory, case_id)] = (count + 1, index)
    return nodes


async def stored(pool: asyncpg.Pool) -> dict[merkle.NodeKey, bytes]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT level, idx, hash FROM transparency.tree_nodes")
    return {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
