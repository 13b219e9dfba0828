"""The transparency log: an inclusion proof at 1 million leaves, the tree's catch-up rate
beside the append rate, and appending with the tree process running beside without."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.db import create_pool
from sexto_events.settings import EventLogSettings
from sexto_events.store import EventStore
from sexto_legal.tlog_check import SIG_COSIGNATURE_V1, SIG_ED25519, leaf_hash
from sexto_legal.transparency import merkle, store
from sexto_legal.transparency.api import TreeClient
from sexto_legal.transparency.settings import TreeSettings
from sexto_legal.transparency.signing import generate
from sexto_legal.transparency.tables import SCHEMA
from sexto_legal.transparency.tree import TreeProcess, stop_tasks
from sexto_legal.transparency.witness import Witness, witness_subject

from bench.append import store_append_rate, with_cpu
from tests.support.transparency import fresh_database

MILLION = 1_000_000
ROUNDS = 3
ORIGIN = "sexto.bench/cases"


async def fill_million(pool: asyncpg.Pool) -> None:
    """The tree's node table of 1 million leaves, written directly (no stream behind it)."""
    edge: dict[merkle.NodeKey, bytes] = {}
    rows: list[tuple[int, int, bytes]] = []
    for index in range(MILLION):
        added = merkle.appended_nodes(index, leaf_hash(index.to_bytes(8, "big")), edge)
        rows += [(level, idx, value) for (level, idx), value in added]
        edge.update(added)
        edge = {k: edge[k] for k in merkle.frontier(index + 1)}
    async with pool.acquire() as conn:
        await store.migrate(conn)
        await conn.copy_records_to_table(
            "tree_nodes", schema_name=SCHEMA, records=rows, columns=["level", "idx", "hash"]
        )
        await conn.execute(
            f"UPDATE {SCHEMA}.tree_state SET size = $1, last_seq = 0 WHERE id = 1", MILLION
        )


def process(
    nc: Client, pool: asyncpg.Pool, settings: TreeSettings, stream: str, root: str = "cases"
) -> TreeProcess:
    """A tree process signing with a fresh key, over `stream`."""
    signer = generate(ORIGIN, SIG_ED25519)
    events = EventLogSettings(stream_name=stream, subject_root=root)
    return TreeProcess(nc, pool, signer, settings, events)


async def proof_rows(nc: Client, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """Inclusion proofs at 1 million leaves, served over NATS, beside one indexed read."""
    pool = await create_pool(await fresh_database(postgres.dsn), max_size=4)
    try:
        await fill_million(pool)
        settings = TreeSettings(origin=ORIGIN, checkpoint_stream="CPBENCH")
        tree = process(nc, pool, settings, "PROOFBENCH", "proofbench")
        await tree.setup()
        client = TreeClient(nc, "PROOFBENCH")
        picks = [random.randrange(MILLION) for _ in range(300)]
        served, direct = [], []
        for index in picks:
            start = time.perf_counter()
            await client.inclusion(index, MILLION)
            served.append(time.perf_counter() - start)
            start = time.perf_counter()
            async with pool.acquire() as conn:
                await conn.fetchval(
                    f"SELECT hash FROM {SCHEMA}.tree_nodes WHERE level = 0 AND idx = $1", index
                )
            direct.append(time.perf_counter() - start)
        await tree.close()
    finally:
        await pool.close()
    p50, p99 = statistics.median(served) * 1000, sorted(served)[int(len(served) * 0.99)] * 1000
    base = statistics.median(direct) * 1000
    return [
        {
            "name": f"inclusion proof at 1 million leaves, served over NATS, {label}",
            "unit": "ms",
            "ours": value,
            "baseline": base,
            "baseline_name": "one indexed node read (p50)",
            "ratio": value / base,
            "target": "< 10 ms",
            "met": value < 10,
        }
        for label, value in (("p50", p50), ("p99", p99))
    ]


async def rate_rows(
    nc: Client, store_: EventStore, postgres: EmbeddedPostgres, total: int, root: Path
) -> list[dict[str, Any]]:
    """The tree's catch-up rate beside the append rate; appending while the tree follows
    beside appending without it, alternated (rounds) so both share the machine's state."""
    # CPU per event of this process: the appends, and the tree's work when it follows (it
    # runs in this process, on the appenders' event loop; `python -m
    # sexto_legal.transparency.tree` runs it as a process of its own).
    cpu_with: list[float] = []
    cpu_without: list[float] = []
    without = [await with_cpu(store_append_rate(store_, 64, total), total, cpu_without)]
    pool = await create_pool(await fresh_database(postgres.dsn), max_size=4)
    witness_key = generate("witness.bench/w1", SIG_COSIGNATURE_V1)
    settings = TreeSettings(origin=ORIGIN, witnesses=[witness_key.verifier.vkey()],
                            checkpoint_interval_s=1.0)  # fmt: skip
    tree = process(nc, pool, settings, store_.spec.name)
    witness = Witness(witness_key, tree.signer.verifier, ORIGIN, root / "bench-witness-state")
    sub = await nc.subscribe(witness_subject(witness_key.verifier), cb=witness.on_request)
    with_tree: list[float] = []
    try:
        await tree.setup()
        behind = await stream_last(nc, store_.spec.name)
        start = time.perf_counter()
        task = asyncio.create_task(tree.run())
        await caught_up(tree, behind, task)
        catch_up = behind / (time.perf_counter() - start)
        for _ in range(ROUNDS):
            with_tree.append(await with_cpu(store_append_rate(store_, 64, total), total, cpu_with))
            await caught_up(tree, await stream_last(nc, store_.spec.name), task)
            await stop_tasks({task})
            without.append(await with_cpu(store_append_rate(store_, 64, total), total, cpu_without))
            task = asyncio.create_task(tree.run())
            await caught_up(tree, await stream_last(nc, store_.spec.name), task)
        await stop_tasks({task})
        await tree.close()
    finally:
        await sub.unsubscribe()
        await pool.close()
    peak, following = max(without), statistics.median(with_tree)
    alone = statistics.median(without)
    return [
        {
            "name": "transparency tree catch-up from the stream",
            "unit": "events/s",
            "ours": catch_up,
            "baseline": peak,
            "baseline_name": "append, 64 writers (best round)",
            "ratio": catch_up / peak,
            "target": ">= 1x",
            "met": catch_up >= peak,
        },
        {
            "name": "append, 64 writers, with the tree process following (median)",
            "unit": "events/s",
            "ours": following,
            "baseline": alone,
            "baseline_name": "append, 64 writers, no tree process (median)",
            "ratio": following / alone,
            "target": ">= 0.9x",
            "met": following / alone >= 0.9,
            "cpu_us_per_event": {
                "ours": statistics.median(cpu_with),
                "baseline": statistics.median(cpu_without),
            },
        },
    ]


async def caught_up(tree: TreeProcess, seq: int, task: asyncio.Task[None]) -> None:
    """Return once the tree holds stream sequence `seq` (a tree that stopped says why)."""
    while True:
        if tree.appender.last_seq >= seq:
            return
        if task.done():
            task.result()  # its exception, if it failed
            raise RuntimeError(f"the tree stopped at {tree.appender.last_seq}, before {seq}")
        await asyncio.sleep(0.01)


async def stream_last(nc: Client, stream: str) -> int:
    """The stream's last sequence."""
    info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", 5)).data)
    return int(info["state"]["last_seq"])
