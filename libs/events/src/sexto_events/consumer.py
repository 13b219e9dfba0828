"""The consumer runtime: durable pull consumers feeding event handlers (read models in
PostgreSQL, and reactors).

Every projection keeps, per case, the stream sequence and hash of the last event it applied,
written in the same transaction as the read model. So a redelivered event changes nothing,
and an event whose predecessor in its case has not been applied yet (a redelivery racing a
later event) waits: each case is applied in chain order. A batch is applied in one
transaction and acknowledged after the commit; if it fails, its events are retried one by
one, and an event that keeps failing is parked in the dead-letter table after
`max_deliver` deliveries, its case moving on past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import asyncpg
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Tracer
from prometheus_client import Counter, Histogram
from sqlalchemy import Table

from sexto_events.chain import body_matches_hash, compute_hash, misplaced
from sexto_events.db import DbConnection, create_tables, drop_tables, missing_columns
from sexto_events.decode import EventDecoder, parse_body
from sexto_events.errors import EventLogError
from sexto_events.model import RecordedEvent
from sexto_events.pull import PullFeed, delivery_of
from sexto_events.tracing import processing, processing_batch, producer_context

log = structlog.get_logger("sexto.consumer")

APPLIED = Counter("sexto_consumer_events_applied", "Events applied", ["consumer"])
DEAD_LETTERED = Counter(
    "sexto_consumer_dead_letters", "Events parked as dead letters", ["consumer"]
)
RETRIED = Counter("sexto_consumer_retries", "Events negatively acknowledged", ["consumer"])
REDELIVERED = Counter(
    "sexto_consumer_redeliveries", "Events delivered again (after a nak or an ack wait)",
    ["consumer"],
)  # fmt: skip
PROCESSING = Histogram(
    "sexto_consumer_processing_seconds",
    "Time a handler took to apply one event (inside the batch's transaction)",
    ["consumer"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)


class EventHandler(Protocol):
    """What a durable consumer feeds: a read model (a projection keeping tables in the
    service's own schema) or a reactor (recording new events through the command path)."""

    name: str

    async def migrate(self, conn: DbConnection) -> None:
        """Create the read model's tables if missing."""

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        """Apply one event inside the runtime's transaction (ignore types it does not use)."""

    async def drop(self, conn: DbConnection) -> None:
        """Drop the read model's tables (a rebuild replays the stream into fresh ones)."""


class ReadModel:
    """A projection whose read tables are declared once (`tables`): created from the
    declarations, and dropped for a rebuild that replays the stream into fresh ones."""

    name: str
    tables: ClassVar[tuple[Table, ...]]

    async def migrate(self, conn: DbConnection) -> None:
        """Create the read model's tables if missing."""
        await create_tables(conn, self.tables)

    async def drop(self, conn: DbConnection) -> None:
        """Drop the read model's tables."""
        await drop_tables(conn, self.tables)

    async def outdated(self, conn: DbConnection) -> list[str]:
        """The declared columns its existing tables lack: made by an older shape of the
        read model, which is then rebuilt from the log at start-up (it is derived)."""
        return await missing_columns(conn, self.tables)


class PoisonEvent(EventLogError):
    """An event that cannot be decoded or verified; retried, then dead-lettered."""


@dataclass
class ConsumerSettings:
    """Tuning of one durable consumer."""

    batch: int = 256
    ack_wait_s: float = 30.0
    max_deliver: int = 5
    backoff_s: Sequence[float] = (1.0, 5.0, 30.0, 120.0)
    wait_for_predecessor_s: float = 0.5
    # Deliveries an event may wait for its predecessor (about 3 minutes at 0.5 s) before
    # its wait counts as a failure: longer than the predecessor's own retries take.
    max_waits: int = 400
    fetch_timeout_s: float = 1.0
    max_ack_pending: int = 4096


@dataclass
class _Item:
    msg: Msg
    seq: int
    deliveries: int
    raw: dict[str, Any]
    case_key: str
    event: RecordedEvent | None = None
    error: Exception | None = None
    # The producer's trace context (NATS headers, else the envelope); None if untraced.
    parent: otel_context.Context | None = None


@dataclass
class _Outcome:
    ack: list[_Item] = field(default_factory=list)
    wait: list[_Item] = field(default_factory=list)


class DurableConsumer:
    """Runs one projection from a durable pull consumer `<service>-<purpose>`."""

    def __init__(
        self,
        *,
        nc: Client,
        pool: asyncpg.Pool,
        decoder: EventDecoder,
        schema: str,
        durable: str,
        handler: EventHandler,
        stream: str = "CASES",
        filter_subject: str = "cases.>",
        settings: ConsumerSettings | None = None,
        chained: bool = True,
        tracer: Tracer | None = None,
    ) -> None:
        """`chained`: each case's events are applied in their chain's order (a consumer of
        every event of a case); False for one that follows a part of the events only (its
        filter skips the others, so no chain can be checked), whose handler must then not
        depend on order (e.g. deleting what an erasure names)."""
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._pool = pool
        self._decoder = decoder
        self.schema = schema
        self.durable = durable
        self.handler = handler
        self.stream = stream
        self.filter_subject = filter_subject
        self.chained = chained
        self.settings = settings or ConsumerSettings()
        self._tracer = tracer or trace.get_tracer("sexto.events")
        self._stopping = asyncio.Event()

    async def setup(self) -> None:
        """Create the read model and the durable consumer.

        The runtime's own tables are migrated first by the schema's owner
        (`sexto_events.migrate.migrate_runtime`).
        """
        if isinstance(self.handler, ReadModel):
            async with self._pool.acquire() as conn:
                outdated = await self.handler.outdated(conn)
            if outdated:
                log.warning(
                    "read model of an older shape: rebuilt from the log",
                    consumer=self.durable,
                    columns=len(outdated),
                )
                await self._reset()
        async with self._pool.acquire() as conn:
            await self.handler.migrate(conn)
        await self._js.add_consumer(
            self.stream,
            ConsumerConfig(
                durable_name=self.durable,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.settings.ack_wait_s,
                # Deliveries are bounded by the runtime (dead letters), not the server:
                # a server-side limit would silently drop an event the runtime never parked.
                max_deliver=-1,
                max_ack_pending=self.settings.max_ack_pending,
                filter_subject=self.filter_subject,
            ),
        )

    async def run(self) -> None:
        """Fetch and apply until `stop()`; a failed round (NATS or PostgreSQL away) is retried."""
        feed = PullFeed(self._nc, self.stream, self.durable)
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await feed.fetch(self.settings.batch, self.settings.fetch_timeout_s)
                    if msgs:
                        await self.process(msgs)
                except Exception as exc:
                    log.error(
                        "consumer round failed",
                        consumer=self.durable,
                        error_type=type(exc).__name__,
                    )
                    await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await feed.close()

    def stop(self) -> None:
        """Ask `run()` to return after the batch in hand."""
        self._stopping.set()

    async def rebuild(self) -> None:
        """Drop the read model and its checkpoints, then replay the stream from the start.

        Call with `run()` stopped; run it again afterwards to catch up.
        """
        await self._reset()
        self._stopping = asyncio.Event()
        await self.setup()

    async def _reset(self) -> None:
        """Delete the durable consumer, the read model's tables and its checkpoints."""
        await self._nc.request(f"$JS.API.CONSUMER.DELETE.{self.stream}.{self.durable}", b"", 5)
        async with self._pool.acquire() as conn, conn.transaction():
            await self.handler.drop(conn)
            for table in ("projection_checkpoints", "projection_positions", "dead_letters"):
                await conn.execute(
                    f"DELETE FROM {self.schema}.{table} WHERE consumer = $1", self.durable
                )

    async def position(self) -> int:
        """The highest stream sequence this projection has applied."""
        async with self._pool.acquire() as conn:
            value = await conn.fetchval(
                f"SELECT last_seq FROM {self.schema}.projection_positions WHERE consumer = $1",
                self.durable,
            )
        return int(value or 0)

    # --- one batch -----------------------------------------------------------------

    async def process(self, msgs: list[Msg]) -> None:
        """Apply a fetched batch: whole in one transaction, else one by one."""
        with processing_batch(self._tracer, consumer=self.durable, stream=self.stream) as batch:
            items = await self._decode_all(msgs)
            redelivered = sum(1 for i in items if i.deliveries > 1)
            if redelivered:
                REDELIVERED.labels(self.durable).inc(redelivered)
            for item in items:
                item.parent = producer_context(item.msg.headers, item.raw.get("traceparent"))
                batch.link(item.parent)
            await self._process(items)

    async def _process(self, items: list[_Item]) -> None:
        healthy = [i for i in items if i.error is None]
        try:
            outcome = await self._apply_in_tx(healthy)
        except Exception:
            outcome = _Outcome()
            for item in healthy:
                try:
                    single = await self._apply_in_tx([item])
                except Exception as exc:
                    item.error = exc
                    continue
                outcome.ack += single.ack
                outcome.wait += single.wait
        for item in outcome.ack:
            await item.msg.ack()
        for item in outcome.wait:
            if item.deliveries > self.settings.max_waits:
                item.error = PoisonEvent(
                    f"event at stream sequence {item.seq} waited too long for its predecessor "
                    "in the case (a gap or a fork in the chain)"
                )
            else:
                await item.msg.nak(delay=self.settings.wait_for_predecessor_s)
        for item in items:
            if item.error is not None:
                await self._failed(item)

    async def _decode_all(self, msgs: list[Msg]) -> list[_Item]:
        """Parse and hash-check each message, then decode the batch with one key lookup."""
        items = [self._parse(m) for m in msgs]
        ready = [i for i in items if i.error is None]
        try:
            events = await self._decoder.decode([(i.seq, i.raw) for i in ready])
        except Exception:
            for item in ready:
                try:
                    item.event = (await self._decoder.decode([(item.seq, item.raw)]))[0]
                except Exception as exc:
                    item.error = exc
            return items
        for item, event in zip(ready, events, strict=True):
            item.event = event
        return items

    def _parse(self, msg: Msg) -> _Item:
        found = delivery_of(msg)
        seq, deliveries = found.stream_seq, found.deliveries
        try:
            raw = parse_body(msg.data)
        except Exception as exc:
            return _Item(msg, seq, deliveries, {}, msg.subject, error=exc)
        # The case is the one the subject names (what NATS permissions are checked
        # against), and the envelope must say the same case, context and event.
        tokens = msg.subject.split(".")
        case_key = f"{tokens[1]}/{tokens[2]}" if len(tokens) >= 5 else msg.subject
        item = _Item(msg, seq, deliveries, raw, case_key)
        wrong = misplaced(msg.subject, raw)
        if wrong:
            item.error = PoisonEvent(f"event at stream sequence {seq} {wrong}")
            return item
        claimed = raw.get("hash")
        if not body_matches_hash(msg.data, claimed) and claimed != compute_hash(raw):
            item.error = PoisonEvent(f"event at stream sequence {seq} does not match its hash")
        return item

    async def _apply_in_tx(self, items: list[_Item]) -> _Outcome:
        outcome = _Outcome()
        if not items:
            return outcome
        keys = sorted({i.case_key for i in items})
        timing = PROCESSING.labels(self.durable)
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialise per case across replicas sharing this durable consumer.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1 || k)) FROM unnest($2::text[]) AS k",
                self.durable,
                keys,
            )
            rows = await conn.fetch(
                f"SELECT case_key, last_seq, last_hash FROM {self.schema}.projection_checkpoints "
                "WHERE consumer = $1 AND case_key = ANY($2)",
                self.durable,
                keys,
            )
            heads = {r["case_key"]: (int(r["last_seq"]), str(r["last_hash"])) for r in rows}
            changed: dict[str, tuple[int, str]] = {}
            for item in items:
                last_seq, last_hash = heads.get(item.case_key, (0, ""))
                if item.seq <= last_seq:
                    outcome.ack.append(item)  # already applied: a redelivery
                    continue
                if self.chained and str(item.raw.get("prevhash", "")) != last_hash:
                    outcome.wait.append(item)  # its predecessor is not applied yet
                    continue
                assert item.event is not None
                with processing(
                    self._tracer, parent=item.parent, consumer=self.durable,
                    subject=item.msg.subject, event_id=item.event.id,
                    event_type=item.event.envelope.type, seq=item.seq,
                    deliveries=item.deliveries,
                ):  # fmt: skip
                    started = time.perf_counter()
                    await self.handler.apply(item.event, conn)
                    timing.observe(time.perf_counter() - started)
                heads[item.case_key] = changed[item.case_key] = (
                    item.seq,
                    item.event.envelope.hash,
                )
                outcome.ack.append(item)
            await self._save_heads(conn, changed)
        APPLIED.labels(self.durable).inc(len(outcome.ack))
        return outcome

    async def _save_heads(self, conn: DbConnection, heads: dict[str, tuple[int, str]]) -> None:
        if not heads:
            return
        # One statement for both: the cases' heads and the consumer's position.
        keys, seqs, hashes = zip(*((k, s, h) for k, (s, h) in sorted(heads.items())), strict=True)
        await conn.execute(
            f"WITH heads AS (INSERT INTO {self.schema}.projection_checkpoints "
            "(consumer, case_key, last_seq, last_hash) "
            "SELECT $1, k, s, h FROM unnest($2::text[], $3::bigint[], $4::text[]) AS u(k, s, h) "
            "ON CONFLICT (consumer, case_key) DO UPDATE "
            "SET last_seq = excluded.last_seq, last_hash = excluded.last_hash "
            f"WHERE {self.schema}.projection_checkpoints.last_seq < excluded.last_seq) "
            f"INSERT INTO {self.schema}.projection_positions (consumer, last_seq) "
            "VALUES ($1, $5) ON CONFLICT (consumer) DO UPDATE "
            f"SET last_seq = GREATEST({self.schema}.projection_positions.last_seq, "
            "excluded.last_seq)",
            self.durable, list(keys), list(seqs), list(hashes), max(seqs),
        )  # fmt: skip

    async def _failed(self, item: _Item) -> None:
        """Retry with backoff, counting failures (not waits); park after `max_deliver`."""
        error = item.error
        assert error is not None
        async with self._pool.acquire() as conn, conn.transaction():
            applied = await conn.fetchval(
                f"SELECT last_seq FROM {self.schema}.projection_checkpoints "
                "WHERE consumer = $1 AND case_key = $2",
                self.durable,
                item.case_key,
            )
            if applied is not None and item.seq <= applied:
                failures = 0  # applied already: this was a redelivery that failed to decode
            else:
                failures = await conn.fetchval(
                    f"INSERT INTO {self.schema}.consumer_failures AS f "
                    "(consumer, stream_seq, failures) VALUES ($1, $2, 1) "
                    "ON CONFLICT (consumer, stream_seq) DO UPDATE SET failures = f.failures + 1 "
                    "RETURNING failures",
                    self.durable,
                    item.seq,
                )
        if failures == 0:
            await item.msg.ack()
            return
        if failures < self.settings.max_deliver:
            backoff = self.settings.backoff_s
            delay = backoff[min(failures - 1, len(backoff) - 1)]
            RETRIED.labels(self.durable).inc()
            log.warning(
                "event retry",
                consumer=self.durable,
                stream_seq=item.seq,
                error_type=type(error).__name__,
                failures=failures,
            )
            await item.msg.nak(delay=delay)
            return
        await self._park(item, failures, error)
        await item.msg.ack()

    async def _park(self, item: _Item, deliveries: int, error: Exception) -> None:
        """Record a dead letter and move its case past it, so later events still flow."""
        raw = item.raw
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {self.schema}.dead_letters (consumer, stream_seq, subject, "
                "event_id, event_type, error_type, error, deliveries) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (consumer, stream_seq) DO NOTHING",
                self.durable,
                item.seq,
                item.msg.subject,
                raw.get("id"),
                raw.get("type"),
                type(error).__name__,
                str(error)[:1000],
                deliveries,
            )
            if raw.get("hash"):
                await self._save_heads(conn, {item.case_key: (item.seq, str(raw["hash"]))})
        DEAD_LETTERED.labels(self.durable).inc()
        log.error(
            "event parked as dead letter",
            consumer=self.durable,
            stream_seq=item.seq,
            event_type=raw.get("type"),
            error_type=type(error).__name__,
        )


async def consumer_info(nc: Client, stream: str, durable: str) -> dict[str, Any]:
    """The server's view of a durable consumer (pending, ack pending)."""
    reply = await nc.request(f"$JS.API.CONSUMER.INFO.{stream}.{durable}", b"", 5.0)
    return dict(json.loads(reply.data))
