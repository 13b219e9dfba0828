"""The tree process: every message of the CASES stream, in stream order, becomes a leaf of
an RFC 6962 Merkle tree in PostgreSQL; signed checkpoints, cosigned by the witnesses, are
published on their own stream; proofs are served over NATS requests.

It reads the stream by sequence (batched direct gets) rather than through a durable
consumer: the tree's own committed state (size and last sequence, written in the same
transaction as the leaves) is the one position, so after a kill -9 it resumes exactly
after its last committed leaf, with no consumer state to disagree with it.

A checkpoint is made at most every `checkpoint_interval_s` while the tree grows, at once
after a batch holding a case closure, and on request (an export asks for one covering the
case's last event before it answers). Checkpoints are signed and cosigned by a task of their
own, so a witness slow or away never holds up the appending of leaves; and each request is
answered by a task of its own, so one waiting for a checkpoint never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from sexto_events.connection import connect
from sexto_events.db import create_pool
from sexto_events.direct_get import DirectReader
from sexto_events.errors import EventLogError
from sexto_events.settings import EventLogSettings
from sexto_events.stream import StreamSpec, ensure_stream

from sexto_legal.tlog_check import (
    SIG_ED25519,
    CaseHead,
    Checkpoint,
    VerifierKey,
    parse_vkey,
)
from sexto_legal.transparency import api, store
from sexto_legal.transparency.settings import TreeSettings
from sexto_legal.transparency.signing import Signer, load_or_create, sign_checkpoint, sign_note
from sexto_legal.transparency.store import Appender, ProofRequestError
from sexto_legal.transparency.tables import SCHEMA
from sexto_legal.transparency.witness import encode_request, witness_subject

log = structlog.get_logger("sexto.tlog")

CLOSURE = ".intake.case_closed"
T = TypeVar("T")
KINDS: dict[type, str] = {int: "a whole number", str: "a string"}


async def ensure_checkpoint_stream(nc: Client, name: str, replicas: int) -> None:
    """The stream the checkpoints are published on: kept, never deleted nor purged."""
    config = {
        "name": name,
        "subjects": [f"{name.lower()}.>"],
        "storage": "file",
        "retention": "limits",
        "discard": "new",
        "deny_delete": True,
        "deny_purge": True,
        "allow_direct": True,
        "duplicate_window": 20 * 60 * 1_000_000_000,
        "num_replicas": replicas,
    }
    reply = await nc.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode(), 5.0)
    error = json.loads(reply.data).get("error")
    if error and "already in use" not in str(error.get("description", "")):
        raise RuntimeError(f"cannot create stream {name}: {error.get('description')}")


def _field(request: dict[str, Any], name: str, kind: type[T], default: T | None = None) -> T:
    """A request's member of `kind`, or ProofRequestError naming it (a caller's mistake)."""
    value = request.get(name, default)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProofRequestError(f"`{name}` must be {KINDS[kind]}, not {value!r}")
    return value


async def stop_tasks(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait for them, cancelling again any still running: in Python 3.11
    `asyncio.wait_for` (used by nats-py's requests) can lose a cancellation that races a
    result, and a task that lost it would never end."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)


class TreeProcess:
    """Appends, checkpoints and answers; one per log."""

    def __init__(
        self,
        nc: Client,
        pool: asyncpg.Pool,
        signer: Signer,
        settings: TreeSettings,
        events: EventLogSettings,
    ) -> None:
        if not settings.witnesses and events.environment not in ("development", "test"):
            # Uncosigned checkpoints prove nothing against a log operator who rewrites its
            # history, and every export would be refused: refuse to start instead.
            raise ValueError(
                f"no witness configured in the {events.environment} environment: set "
                "SEXTO_TLOG_WITNESSES to the verifier keys of the witnesses that cosign this "
                "log's checkpoints (a JSON list)"
            )
        self.nc, self.pool, self.signer, self.settings = nc, pool, signer, settings
        self.subject_filter = f"{events.subject_root}.>"
        self.prefix = api.subjects_of(events.stream_name)
        self.replicas = events.stream_replicas
        self.spec = StreamSpec(events.stream_name, events.subject_root, events.stream_replicas)
        self.reader = DirectReader(nc, events.stream_name)
        self.appender = Appender(pool)
        self.witnesses: list[VerifierKey] = [parse_vkey(v) for v in settings.witnesses]
        self._witness_sizes: dict[VerifierKey, int] = {}
        self._latest: tuple[int, bytes] | None = None
        self._waiters: list[tuple[int, asyncio.Future[bytes]]] = []
        self._signing = asyncio.Lock()
        self._due = asyncio.Event()  # a checkpoint is wanted: the cosigning task makes it
        self._subs: list[Subscription] = []
        self._requests: set[asyncio.Task[None]] = set()

    async def setup(self) -> None:
        """Tables, state, the checkpoint stream, and the request handlers."""
        async with self.pool.acquire() as conn:
            await store.migrate(conn)
            row = await conn.fetchrow(
                f"SELECT size, note FROM {SCHEMA}.tree_checkpoints ORDER BY size DESC LIMIT 1"
            )
        self._latest = (int(row["size"]), bytes(row["note"])) if row else None
        await self.appender.load()
        await ensure_stream(self.nc, self.spec)  # the tree may start before any service
        await ensure_checkpoint_stream(self.nc, self.settings.checkpoint_stream, self.replicas)
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            api.CHECKPOINT: self._on_checkpoint,
            api.INCLUSION: self._on_inclusion,
            api.CONSISTENCY: self._on_consistency,
            api.CASE: self._on_case,
        }
        for subject, handler in handlers.items():
            self._subs.append(
                await self.nc.subscribe(
                    f"{self.prefix}.{subject}", queue="tlog", cb=self._answer(handler)
                )
            )
        await self.nc.flush()

    def latest_size(self) -> int | None:
        """The size of the newest checkpoint made (None before the first)."""
        return self._latest[0] if self._latest else None

    async def close(self) -> None:
        """Stop answering requests (the caller cancels `run` first)."""
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        for _, future in self._waiters:
            future.cancel()
        await stop_tasks(self._requests)
        await self.reader.close()

    def _answer(
        self, handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    ) -> Callable[[Msg], Awaitable[None]]:
        async def respond(msg: Msg) -> None:
            try:
                request = json.loads(msg.data)
                if not isinstance(request, dict):
                    raise ProofRequestError("the request must be a JSON object")
                answer = await handler(request)
            except ProofRequestError as exc:
                answer = {"error": str(exc), "kind": api.INVALID}
            except json.JSONDecodeError as exc:
                answer = {"error": f"the request is not JSON ({exc})", "kind": api.INVALID}
            except TimeoutError:
                wait = self.settings.request_wait_s
                answer = {"error": f"the tree has not reached that stream sequence within "
                          f"{wait} s; retry", "kind": api.NOT_YET}  # fmt: skip
            except Exception as exc:  # a fault of ours (a stored node missing): say so, by type
                log.error("request failed", subject=msg.subject, error_type=type(exc).__name__)
                answer = {"error": f"the tree could not answer ({type(exc).__name__})",
                          "kind": api.INTERNAL}  # fmt: skip
            await msg.respond(json.dumps(answer).encode())

        async def spawn(msg: Msg) -> None:  # nats-py awaits its callbacks one at a time
            task = asyncio.create_task(respond(msg))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

        return spawn

    async def step(self) -> int:
        """Append the next batch of the stream; checkpoint when due. Returns leaves added."""
        start = self.appender.last_seq + 1
        # What is stored now, not what the writers add while it is read: a tree following
        # busy writers would otherwise chase the head with tiny batches.
        messages = await self.reader.read(
            self.subject_filter, start, up_to_seq=start + self.settings.batch - 1, follow=False
        )
        added = await self.appender.append(messages)
        if added and any(m.subject.endswith(CLOSURE) for m in messages):
            self._due.set()
        if any(s <= self.appender.last_seq for s, _ in self._waiters):
            self._due.set()
        return added

    async def run(self) -> None:
        """Append until cancelled, while a task of its own makes the checkpoints asked for."""
        cosigning = asyncio.create_task(self._checkpoint_when_due())
        try:
            await self._append_forever()
        finally:
            await stop_tasks({cosigning})

    async def _append_forever(self) -> None:
        last_checkpoint = time.monotonic()
        while True:
            try:
                added = await self.step()
            except EventLogError as exc:  # the server restarting, a leader election: retry
                log.warning("cannot read the stream", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            grown = self._latest is None or self._latest[0] < self.appender.size
            if grown and time.monotonic() - last_checkpoint >= self.settings.checkpoint_interval_s:
                self._due.set()
                last_checkpoint = time.monotonic()
            if added < self.settings.batch:
                # At the head (a partial batch): wait for more before the next transaction, so
                # a tree following busy writers commits a batch each `idle_wait_s` rather than
                # a few leaves at a time (each commit a disk flush beside the log's own).
                await asyncio.sleep(self.settings.idle_wait_s)

    async def _checkpoint_when_due(self) -> None:
        """Checkpoint the tree as it is whenever one is wanted; answer the requests waiting
        for a checkpoint that holds their stream sequence."""
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                note, last_seq = await self._checkpoint()
            except Exception as exc:  # NATS or PostgreSQL away: the waiters time out, retry
                log.error("checkpoint failed", error_type=type(exc).__name__)
                await asyncio.sleep(1.0)
                self._due.set()
                continue
            ready = [(s, f) for s, f in self._waiters if s <= last_seq]
            for _, future in ready:
                if not future.done():
                    future.set_result(note)
            self._waiters = [w for w in self._waiters if w not in ready]

    async def checkpoint(self) -> bytes:
        """The signed, cosigned checkpoint of the committed tree, published and stored."""
        return (await self._checkpoint())[0]

    async def _checkpoint(self) -> tuple[bytes, int]:
        """The checkpoint (as `checkpoint`) and the last stream sequence its tree holds."""
        async with self._signing:
            size, last_seq = self.appender.size, self.appender.last_seq
            if self._latest is not None and self._latest[0] == size:
                return self._latest[1], last_seq
            body = Checkpoint(self.settings.origin, size, self.appender.root())
            note = sign_checkpoint(body, self.signer)
            for witness in self.witnesses:
                note += await self._cosignature(witness, body.size, note)
            async with self.pool.acquire() as conn:
                await conn.execute(
                    f"INSERT INTO {SCHEMA}.tree_checkpoints (size, note) VALUES ($1, $2) "
                    "ON CONFLICT (size) DO NOTHING",
                    size,
                    note,
                )
            ack = await self.nc.request(
                f"{self.settings.checkpoint_stream.lower()}.published",
                note,
                5.0,
                headers={"Nats-Msg-Id": f"{self.settings.origin}@{size}"},
            )
            if "error" in json.loads(ack.data):
                raise RuntimeError(f"checkpoint not stored on its stream: {ack.data!r}")
            self._latest = (size, note)
            log.info("checkpoint", size=size)
            return note, last_seq

    async def _cosignature(self, witness: VerifierKey, size: int, note: bytes) -> bytes:
        """The witness's cosignature line, or nothing (logged) when it refuses or is away."""
        for _ in range(2):
            old = self._witness_sizes.get(witness, 0)
            if old > size:  # it cosigned a larger tree: this one was rebuilt or rolled back
                log.error("witness has cosigned a larger tree", witness=witness.name, size=old)
                return b""
            async with self.pool.acquire() as conn:
                proof = await store.consistency_proof(conn, old, size)
            try:
                reply = await self.nc.request(
                    witness_subject(witness),
                    encode_request(old, proof, note),
                    self.settings.witness_timeout_s,
                )
            except (
                NatsTimeout,
                NoRespondersError,
                TimeoutError,
            ):  # a witness away never stops the log
                log.warning("witness did not answer", witness=witness.name)
                return b""
            answer = json.loads(reply.data)
            if "cosignature" in answer:
                self._witness_sizes[witness] = size
                return str(answer["cosignature"]).encode()
            if answer.get("size") is None:
                log.warning("witness refused", witness=witness.name, reason=answer.get("error"))
                return b""
            self._witness_sizes[witness] = int(answer["size"])
        return b""

    async def _covering(self, covers_seq: int) -> bytes:
        if covers_seq <= self.appender.last_seq and self._latest is not None:
            async with self.pool.acquire() as conn:
                leaf = await conn.fetchval(
                    f"SELECT idx FROM {SCHEMA}.tree_leaves WHERE seq = $1", covers_seq
                )
            if leaf is None or leaf < self._latest[0]:
                return self._latest[1]
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters.append((covers_seq, future))
        if covers_seq <= self.appender.last_seq:
            self._due.set()
        try:
            return await asyncio.wait_for(future, self.settings.request_wait_s)
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not future]

    async def _on_checkpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        note = await self._covering(_field(request, "covers_seq", int, 0))
        return {"note": note.decode()}

    async def _on_inclusion(self, request: dict[str, Any]) -> dict[str, Any]:
        index, size = _field(request, "index", int), _field(request, "size", int)
        async with self.pool.acquire() as conn:
            proof = await store.inclusion_proof(conn, index, size)
        return {"proof": api.b64(proof)}

    async def _on_consistency(self, request: dict[str, Any]) -> dict[str, Any]:
        size1, size2 = _field(request, "from", int), _field(request, "to", int)
        async with self.pool.acquire() as conn:
            proof = await store.consistency_proof(conn, size1, size2)
        return {"proof": api.b64(proof)}

    async def _on_case(self, request: dict[str, Any]) -> dict[str, Any]:
        territory, case_id = _field(request, "territory", str), _field(request, "case_id", str)
        note = await self._covering(_field(request, "covers_seq", int, 0))
        size = int(note.split(b"\n")[1])
        async with self.pool.acquire() as conn:
            leaves = await store.case_leaves(conn, territory, case_id, size)
            root, proofs = await store.inclusion_proofs(conn, [leaf.index for leaf in leaves], size)
        head = CaseHead(self.settings.origin, size, root, territory, case_id, len(leaves),
                        leaves[-1].index if leaves else None)  # fmt: skip
        return {
            "checkpoint": note.decode(),
            "size": size,
            "head_statement": sign_note(head.text(), self.signer).decode(),
            "log_key": self.signer.verifier.vkey(),
            "witnesses": self.settings.witnesses,
            "leaves": [
                {"index": leaf.index, "seq": leaf.seq, "case_index": leaf.case_index,
                 "prev_leaf": leaf.prev_leaf, "proof": api.b64(proof)}
                for leaf, proof in zip(leaves, proofs, strict=True)
            ],
        }  # fmt: skip


async def main() -> None:
    """Run the tree process from the environment's settings."""
    events = EventLogSettings()
    settings = TreeSettings()
    signer = load_or_create(settings.key_file, settings.origin, SIG_ED25519)
    nc = await connect(events.nats_url, name="sexto-tlog")
    pool = await create_pool(events.database_url, max_size=4)
    process = TreeProcess(nc, pool, signer, settings, events)
    await process.setup()
    print(f"tree {signer.verifier.vkey()} size {process.appender.size}", flush=True)
    try:
        await process.run()
    finally:
        await process.close()
        with contextlib.suppress(Exception):
            await nc.close()
        await pool.close()


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main())
