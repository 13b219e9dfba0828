"""`make bench`: every figure beside a baseline measured in the same run.

Prints a table with ratios and writes JSON to bench/results/ (one row per figure, stable
keys: see bench/rows.py). Each section gets fresh servers so one section's data does not
slow another. Scale with BENCH_SCALE (default 1.0; the stream of the big load figure holds
BENCH_SCALE x 1 million events, at least 100 thousand), repeat noisy figures with
BENCH_ROUNDS (default 3, the median shown), pick sections with BENCH_ONLY, and make a
missed target exit non-zero with BENCH_STRICT=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import free_port
from sexto_events.connection import connect
from sexto_events.db import create_pool
from sexto_events.migrate import migrate_keys
from sexto_events.model import CaseVersion
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.store import EventStore

from bench import append, intake, legal, load, peer, replay, tlog, tracing, webhook
from bench.fixtures import fresh_cases, read_event
from bench.rows import ROUNDS, heap_frozen, median, row
from tests.support.events import reported

RESULTS = Path(__file__).resolve().parent / "results"
STRICT = os.environ.get("BENCH_STRICT") == "1"
"""BENCH_STRICT=1: exit non-zero when a row misses its target."""
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
MASTER_KEY = os.urandom(32)
ONLY = {name for name in os.environ.get("BENCH_ONLY", "").split(",") if name}


def wanted(section: str) -> bool:
    """BENCH_ONLY=intake,replay runs only those sections."""
    return not ONLY or section in ONLY


@dataclass
class Stack:
    """Servers and clients for one section."""

    nats: NatsServer
    nc: Client
    nc_raw: Client
    pool: asyncpg.Pool
    store: EventStore
    cache_cases: int

    def new_store(self, cache_cases: int | None = None) -> EventStore:
        """A store on the current connection, with this section's case cache size or another."""
        size = self.cache_cases if cache_cases is None else cache_cases
        return EventStore(self.nc, source="sexto/bench", codec=self.store.codec, cache_cases=size)


@asynccontextmanager
async def stack(
    root: Path, postgres: EmbeddedPostgres, name: str, cache_cases: int = 1000
) -> AsyncIterator[Stack]:
    """A fresh nats-server (fsync always) sharing the benchmark's PostgreSQL."""
    server = NatsServer(free_port(), root / name).start()
    nc = await connect(server.url, pending_size=64 * 1024 * 1024)
    # The baselines use nats-py exactly as released.
    nc_raw = await nats.connect(server.url, pending_size=64 * 1024 * 1024)
    pool = await create_pool(postgres.dsn)
    vault = KeyVault(pool, MASTER_KEY)
    await migrate_keys(postgres.dsn)
    store = EventStore(
        nc, source="sexto/bench", codec=PersonalDataCodec(vault), cache_cases=cache_cases
    )
    await store.ensure_stream()
    try:
        section = Stack(server, nc, nc_raw, pool, store, cache_cases)
        yield section
    finally:
        # restart_nats replaces the clients: close the current ones
        await section.store.close()
        await section.nc.close()
        await section.nc_raw.close()
        await pool.close()
        server.stop()


async def restart_nats(s: Stack, sync_always: bool) -> None:
    """Restart the section's server with or without fsync always, same data."""
    await s.store.close()
    await s.nc.close()
    await s.nc_raw.close()
    s.nats.stop()
    s.nats.sync_always = sync_always
    s.nats.start()
    s.nc = await connect(s.nats.url, pending_size=64 * 1024 * 1024)
    s.nc_raw = await nats.connect(s.nats.url, pending_size=64 * 1024 * 1024)
    s.store = s.new_store()


async def section_append(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """Append rate, one writer and 64, beside plain js.publish."""
    async with stack(root, postgres, "append") as s:
        return await append.run(s.nc_raw, s.store, total=int(3000 * SCALE))


async def section_load(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """One case's load at 1 thousand and 1 million events (uncached: the whole case)."""
    rows: list[dict[str, Any]] = []
    full = max(int(1_000_000 * SCALE), 100_000)
    big_label = "1 million" if full == 1_000_000 else f"{full // 1000} thousand"
    async with stack(root, postgres, "load", cache_cases=0) as s:
        case = await load.write_case(s.store)
        await load.fill(s.nc_raw, 1000)
        rows += await load.measure(s.nc_raw, s.store, case, "1 thousand", int(1000 * SCALE))
        cached = s.new_store(cache_cases=1000)
        stores = {"case cache off": s.store, "case cache on (as services run)": cached}
        rows += await load.growth(stores, int(300 * SCALE), int(200 * SCALE))
        await cached.close()
        # Bulk-load with lazy fsync (the figure measured does not write), then measure on
        # the production setting again.
        await restart_nats(s, sync_always=False)
        await load.fill(s.nc_raw, full)
        await restart_nats(s, sync_always=True)
        rows += await load.measure(s.nc_raw, s.store, case, big_label, int(1000 * SCALE))
    small, big = (
        r["ours"] for r in rows if str(r["name"]).startswith("load one case (20 events)")
        and str(r["name"]).endswith("p50")
    )  # fmt: skip
    rows.append(
        {
            "name": f"load p50 slowdown, {big_label} vs 1 thousand events",
            "unit": "x",
            "ours": big / small,
            "baseline": 1.0,
            "baseline_name": "no slowdown",
            "ratio": big / small,
            "target": "<= 1.5x",
            "met": big / small <= 1.5,
        }
    )
    return rows


async def section_replay(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """Replay through the consumer runtime beside a plain ordered consumer."""
    async with stack(root, postgres, "replay") as s:
        await restart_nats(s, sync_always=False)
        await seed_replay(s.store, cases=int(1000 * SCALE), per_case=50)
        await restart_nats(s, sync_always=True)
        return [await replay.run(s.nc_raw, s.nc, s.pool, postgres.dsn, s.store.decoder, "cases.>")]


async def section_legal(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """`sexto replay` to a file and `verify --all` over 1 million events (BENCH_SCALE)."""
    async with stack(root, postgres, "legal") as s:
        await restart_nats(s, sync_always=False)
        await legal.seed(s.nc_raw, s.store, int(1_000_000 * SCALE))
        await restart_nats(s, sync_always=True)
        return await legal.run(s.nc_raw, s.nc, s.store, root, MASTER_KEY, s.nats.url, postgres.dsn)


async def section_intake(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """POST /v1/cases beside a bare endpoint."""
    async with stack(root, postgres, "intake") as s:
        return await intake.run(root, s.nats.url, postgres.dsn, SCALE)


async def section_peer(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """The command loop beside the eventsourcing library, without and with caches.

    Rounds interleave the five loops and each figure is the median of its rounds.
    """
    rows: list[dict[str, Any]] = []
    # 5 rounds at least (the peer ran at 526 and 356 commands/s in two quiet runs of 3).
    # Not longer loops: the 20 cases grow by a loop's commands, and without caches each
    # load reads the whole case, so a longer loop measures longer cases, not the same thing.
    commands = int(1000 * SCALE)
    for cached in (False, True):
        async with stack(root, postgres, f"peer-{cached}", 1000 if cached else 0) as s:
            # The same store with the unwrapped-key cache off: what sealing cost before it.
            no_key_cache = EventStore(
                s.nc, source="sexto/bench", cache_cases=s.cache_cases,
                codec=PersonalDataCodec(KeyVault(s.pool, MASTER_KEY, cache_keys=0)),
            )  # fmt: skip
            runs: dict[str, list[float]] = {}
            # Both sides' set-up heap out of the full collections, as in a started service:
            # a 0.1 s pause otherwise fell at random on one loop or its baseline.
            with heap_frozen():
                for _ in range(max(ROUNDS, 5)):
                    for cipher in (False, True):
                        rate = await asyncio.to_thread(
                            peer.eventsourcing_rate, "127.0.0.1", postgres.port,
                            postgres.database, commands, cached, cipher,
                        )  # fmt: skip
                        runs.setdefault(f"theirs{cipher}", []).append(rate)
                    for name, on, personal in (
                        ("ours", s.store, False),
                        ("sealed", s.store, True),
                        ("sealed, no key cache", no_key_cache, True),
                    ):
                        rate = await peer.store_rate(on, commands, personal)
                        runs.setdefault(name, []).append(rate)
            await no_key_cache.close()
        m = {name: median(values) for name, values in runs.items()}
        mode = "with caches" if cached else "no caches"
        peer_name = f"eventsourcing 9.5 on PostgreSQL, {mode}"
        loop = f"command loop ({mode}): load + append one event"
        rows += [
            row(loop, "commands/s", m["ours"], m["theirsFalse"], peer_name, at_least=1.5),
            row(f"{loop}, sealed personal data", "commands/s", m["sealed"], m["theirsFalse"],
                f"{peer_name}, sealing nothing"),
            row(f"{loop}, sealed personal data, peer with its cipher on", "commands/s",
                m["sealed"], m["theirsTrue"], f"{peer_name}, AESCipher on", at_least=1.5),
            row(f"{loop}, sealed personal data vs our unsealed loop", "commands/s",
                m["sealed"], m["ours"], "our loop sealing nothing, same run", at_least=0.8),
            row(f"{loop}, sealed personal data, key cache on vs off", "commands/s",
                m["sealed"], m["sealed, no key cache"], "our sealed loop, key cache off"),
        ]  # fmt: skip
    return rows


async def section_webhook(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """Escalation appended -> webhook received at 50/s, beside core NATS latency."""
    # The receiver is a thread of this process: a full collection here would pause it.
    async with stack(root, postgres, "webhook") as s:
        with heap_frozen():
            return await webhook.run(root, s.nc, s.nc_raw, s.store, postgres.dsn, MASTER_KEY, SCALE)


async def section_tlog(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """The transparency log: proofs at 1 million leaves; catch-up and append beside it."""
    async with stack(root, postgres, "tlog") as s:
        rows = await tlog.proof_rows(s.nc, postgres)
        rows += await tlog.rate_rows(s.nc, s.store, postgres, int(3000 * SCALE), root)
        return rows


async def section_tracing(root: Path, postgres: EmbeddedPostgres) -> list[dict[str, Any]]:
    """Tracing on (no-op exporter) beside off: intake throughput and the command loop."""
    async with stack(root, postgres, "tracing") as s:
        rows = await tracing.intake_rates(root, s.nats.url, postgres.dsn, SCALE)
        untraced, traced, provider = tracing.stores(s.nc, s.store.codec)
        try:
            rows += await tracing.command_loop_rates(untraced, traced)
        finally:
            await untraced.close()
            await traced.close()
            provider.shutdown()
    return rows


SECTIONS = {
    "append": section_append,
    "load": section_load,
    "replay": section_replay,
    "legal": section_legal,
    "intake": section_intake,
    "peer": section_peer,
    "webhook": section_webhook,
    "tlog": section_tlog,
    "tracing": section_tracing,
}


async def main() -> None:
    """Run every section (or those in BENCH_ONLY) and report."""
    root = Path(tempfile.mkdtemp(prefix="sexto-bench-", dir=os.environ.get("BENCH_DIR")))
    os.chmod(root, 0o755)
    postgres = EmbeddedPostgres(free_port(), root / "pg" / "data", durable=True).start()
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for name, section in SECTIONS.items():
            if wanted(name):
                print(f"{name} ...", flush=True)
                rows += await section(root, postgres)
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(rows, time.perf_counter() - started)
    missed = [r["name"] for r in rows if r["met"] is False]
    if STRICT and missed:
        print(f"BENCH_STRICT: {len(missed)} target(s) missed:", *missed, sep="\n  ")
        raise SystemExit(1)


async def seed_replay(store: EventStore, cases: int, per_case: int) -> None:
    """Real envelopes for the replay: a sealed report then facts, 64 writers at once."""
    refs = fresh_cases("replaybench", cases)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(refs)):
        queue.put_nowait(i)

    async def writer() -> None:
        while not queue.empty():
            case = refs[queue.get_nowait()]
            version = (await store.append(case, [reported()], CaseVersion.new())).version
            for _ in range(per_case - 1):
                version = (await store.append(case, [read_event()], version)).version

    await asyncio.gather(*(writer() for _ in range(64)))


def report(rows: list[dict[str, Any]], seconds: float) -> None:
    """Print the table and save the JSON."""
    print()
    print(f"{'figure':<64} {'ours':>10} {'baseline':>10} {'ratio':>7}  {'target':<11} met")
    for r in rows:
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        print(
            f"{r['name']:<64} {r['ours']:>10.2f} {r['baseline']:>10.2f} {r['ratio']:>6.2f}x"
            f"  {r['target']:<11} {met:<4} ({r['unit']}; baseline: {r['baseline_name']})"
        )
        if "cpu_us_per_event" in r:
            cpu = r["cpu_us_per_event"]
            print(f"{'  this process, CPU per event (µs)':<64} {cpu['ours']:>10.0f} "
                  f"{cpu['baseline']:>10.0f}")  # fmt: skip
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "scale": SCALE,
        "seconds": round(seconds, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"bench-{stamp}.json"
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"\n{machine}\nsaved {out}")


if __name__ == "__main__":
    asyncio.run(main())
