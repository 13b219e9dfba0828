"""The event store: append with per-case optimistic concurrency, load with one batched get.

A case's version is the stream sequence of its last event. Appends carry
`Nats-Expected-Last-Subject-Sequence` for the case's subject filter, so a stale writer is
refused by the server itself; several events are written as one atomic batch, so a case
never shows half of a decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import uuid_utils
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from opentelemetry import trace
from opentelemetry.trace import Tracer

from sexto_events.acks import Acks
from sexto_events.case_cache import CachedCase, CaseCache, cached_case
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE, Catalogue
from sexto_events.chain import misplaced, seal_body, verify_chain
from sexto_events.decode import EventDecoder, parse_body
from sexto_events.direct_get import DirectReader, StoredMessage
from sexto_events.envelope import (
    DATA_CONTENT_TYPE,
    SPEC_VERSION,
    Envelope,
    format_time,
)
from sexto_events.errors import (
    AppendFailed,
    ChainBroken,
    ConcurrencyConflict,
    EventLogError,
    EventTooLarge,
    LogUnavailable,
    UnknownEventType,
)
from sexto_events.model import (
    AppendResult,
    CaseRef,
    CaseVersion,
    LoadedCase,
    NewEvent,
    RecordedEvent,
)
from sexto_events.personal import PersonalDataCodec, subjects_of
from sexto_events.stream import StreamSpec, ensure_stream
from sexto_events.tracing import producing

MAX_EVENT_BYTES = 64 * 1024
MAX_EVENTS_PER_APPEND = 100
WRONG_LAST_SEQUENCE = 10071
# The same refusal worded without the sequence: what a clustered stream's leader answers
# (make chaos met it on a 3-node cluster; a single server answers 10071).
WRONG_LAST_SEQUENCE_CLUSTERED = 10164
BATCH_DUPLICATE_MSG_ID = 10201
CONFLICT_CODES = (WRONG_LAST_SEQUENCE, WRONG_LAST_SEQUENCE_CLUSTERED, BATCH_DUPLICATE_MSG_ID)
UNAVAILABLE = 503  # the API error's HTTP-like code for "temporarily unavailable"
# "duplicate message id is in process" (our retry after a timeout met the first try still
# in raft), "too many requests": the append may or may not land; neither is a refusal
# (nats-server's error table).
OUTCOME_PENDING = (10158, 10167)
# 10077 is the generic "store failed": pending only when the store is closed (a leader
# stepping down under a committed entry); max msgs/bytes, per-subject limits or a disk
# write error are refusals that no retry will cure.
STORE_FAILED = 10077
STORE_CLOSED = "store is closed"  # nats-server ErrStoreClosed
# A 503 also reports exhausted resources or a failed write: an alarm, not a retry.
NOT_TRANSIENT = (
    "insufficient resources",
    "no space left",
    "write error",
    "i/o error",
    "input/output error",
    "read-only file system",
)


AppendOutcome = Literal["conflict", "pending", "failed"]


def classify_append_error(error: Mapping[str, Any]) -> AppendOutcome:
    """What an API error answering a publish means: a concurrency conflict to resolve, an
    outcome still pending (retry with the same ids), or a refusal (an alarm)."""
    err_code = error.get("err_code")
    description = str(error.get("description", "")).lower()
    if err_code in CONFLICT_CODES:
        return "conflict"
    if err_code == STORE_FAILED:
        return "pending" if STORE_CLOSED in description else "failed"
    if any(reason in description for reason in NOT_TRANSIENT):
        return "failed"
    if error.get("code") == UNAVAILABLE or err_code in OUTCOME_PENDING:
        return "pending"
    return "failed"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventStore:
    """Appends and loads the events of cases on the CASES stream."""

    def __init__(
        self,
        nc: Client,
        *,
        source: str,
        codec: PersonalDataCodec | None = None,
        catalogue: Catalogue = CATALOGUE,
        spec: StreamSpec | None = None,
        clock: Callable[[], datetime] = _utcnow,
        timeout: float = 5.0,
        cache_cases: int = 1000,
        tracer: Tracer | None = None,
    ) -> None:
        self._nc = nc
        self._tracer = tracer or trace.get_tracer("sexto.events")
        self.source = source
        self.codec = codec
        self.catalogue = catalogue
        self.spec = spec or StreamSpec()
        self._clock = clock
        self._timeout = timeout
        self._reader = DirectReader(nc, self.spec.name, timeout=timeout)
        self._acks = Acks(nc)
        self._cache = CaseCache(cache_cases) if cache_cases > 0 else None
        self.decoder = EventDecoder(catalogue, codec)

    async def ensure_stream(self) -> None:
        """Create the stream with the fixed settings, or refuse one that breaks them."""
        await ensure_stream(self._nc, self.spec, timeout=self._timeout)

    def case_filter(self, case: CaseRef) -> str:
        """The subject filter of every event of a case."""
        return f"{self.spec.subject_root}.{case.territory}.{case.case_id}.>"

    def subject_for(self, case: CaseRef, cls: type[EventData]) -> str:
        """The subject an event of type `cls` is written to."""
        return f"{self.spec.subject_root}.{case.territory}.{case.case_id}.{cls.subject_suffix()}"

    # --- append --------------------------------------------------------------------

    async def append(
        self, case: CaseRef, events: Sequence[NewEvent], expected: CaseVersion
    ) -> AppendResult:
        """Append `events` if the case is still at `expected`; a same-id retry is a no-op."""
        if not events:
            raise ValueError("append needs at least one event")
        if len(events) > MAX_EVENTS_PER_APPEND:
            raise ValueError(f"at most {MAX_EVENTS_PER_APPEND} events per append")
        ids = [e.event_id or str(uuid_utils.uuid7()) for e in events]
        # One PRODUCER span per append: the envelopes' `traceparent` and the NATS headers
        # name it, so each consumer's span is its child.
        with producing(
            self._tracer,
            subject=self.subject_for(case, type(events[0].data)),
            types=[type(e.data).type_name() for e in events],
            event_ids=ids,
        ) as trace_context:
            return await self._append(case, events, ids, expected, trace_context)

    async def _append(
        self,
        case: CaseRef,
        events: Sequence[NewEvent],
        ids: list[str],
        expected: CaseVersion,
        trace_context: dict[str, str],
    ) -> AppendResult:
        built, epoch = await self._build(
            case, events, ids, expected.head_hash, trace_context.get("traceparent")
        )
        bodies = [
            (self.subject_for(case, type(e.data)), event_id, body)
            for e, (event_id, _, body, _) in zip(events, built, strict=True)
        ]
        for attempt in range(3):
            try:
                ack = await self._publish(case, bodies, expected.seq, trace_context)
                break
            except (NatsTimeout, NoRespondersError):
                # The outcome is unknown: the same ids make the retry safe (de-duplicated or
                # found already stored by the conflict check below).
                if attempt == 2:
                    raise LogUnavailable(
                        f"no acknowledgement for case {case} after 3 tries; the append may or "
                        "may not be stored: retry with the same event ids"
                    ) from None
                await asyncio.sleep(0.2 * (attempt + 1))
        error = ack.get("error")
        if error is None and not ack.get("duplicate"):
            last = int(ack["seq"])
            seqs = list(range(last - len(built) + 1, last + 1))
            self._reader.appended(self.case_filter(case), len(built))
            self._cache_appended(case, expected, events, built, seqs, epoch)
            return AppendResult(CaseVersion(last, built[-1][1]), ids, seqs)
        outcome = "conflict" if error is None else classify_append_error(error)
        if outcome == "conflict":
            return await self._resolve_conflict(case, ids, expected)
        assert error is not None
        if outcome == "pending":
            # The cluster cannot store now (no quorum, a leader being elected), or an earlier
            # try of this very append is still being proposed and may yet land: as after a
            # timeout, the same ids make the retry safe.
            raise LogUnavailable(
                f"the log cannot store the append to case {case} now: "
                f"{error.get('description')}; retry with the same event ids"
            )
        raise AppendFailed(
            f"the server refused the append to case {case}: {error.get('description')} "
            f"(code {error.get('code')}, err_code {error.get('err_code')})"
        )

    def _cache_appended(
        self,
        case: CaseRef,
        expected: CaseVersion,
        events: Sequence[NewEvent],
        built: list[tuple[str, str, bytes, dict[str, Any]]],
        seqs: list[int],
        epoch: int | None,
    ) -> None:
        """Extend a cached case with what this process just wrote on top of it, its keys
        checked at shred epoch `epoch`."""
        key = self.case_filter(case)
        cached = self._cache.get(key) if self._cache else None
        if cached is None or cached.head != expected:
            return
        raws = [(seq, stored) for seq, (_, _, _, stored) in zip(seqs, built, strict=True)]
        recorded = [
            RecordedEvent(seq, Envelope.model_construct(**stored), event.data, stored["type"])
            for seq, event, (_, _, _, stored) in zip(seqs, events, built, strict=True)
        ]
        self._cache.put(key, cached.extended_sealed(raws, recorded, epoch))  # type: ignore[union-attr]

    async def _build(
        self,
        case: CaseRef,
        events: Sequence[NewEvent],
        ids: Sequence[str],
        prevhash: str,
        traceparent: str | None = None,
    ) -> tuple[list[tuple[str, str, bytes, dict[str, Any]]], int | None]:
        """(event id, hash, body, stored envelope) of each event (its id from `ids`), chained
        from `prevhash`, and the shred epoch the sealing keys were checked at (None when
        nothing was sealed)."""
        drafts = []
        for event, event_id in zip(events, ids, strict=True):
            cls = type(event.data)
            type_name = cls.type_name()
            if self.catalogue.resolve(type_name) is not cls:
                raise UnknownEventType(type_name)
            if not self.catalogue.is_current(cls):
                raise EventLogError(
                    f"{type_name} is superseded by a newer version: write the current version"
                )
            drafts.append((cls, event.data.model_dump(mode="json"), case.case_id, event_id))
        epoch = None
        if self.codec is not None:
            # One key lookup for every event of the command.
            sealed, epoch = await self.codec.seal_many(drafts)
        elif personal := [
            cls for cls, data, _, _ in drafts if subjects_of(cls, data, case.case_id)
        ]:
            raise EventLogError(
                f"{personal[0].type_name()} carries personal data but no key vault was configured"
            )
        else:
            sealed = [data for _, data, _, _ in drafts]
        envelopes = []
        for event, (cls, _, _, event_id), data in zip(events, drafts, sealed, strict=True):
            type_name = cls.type_name()
            attributes: dict[str, Any] = {
                "specversion": SPEC_VERSION,
                "id": event_id,
                "source": self.source,
                "type": type_name,
                "subject": case.case_id,
                "time": format_time(event.time or self._clock()),
                "datacontenttype": DATA_CONTENT_TYPE,
                "data": data,
                "territory": case.territory,
                "actor": event.actor,
                "actorrole": event.actor_role,
                "correlationid": event.correlation_id or event_id,
                "causationid": event.causation_id or event_id,
                "traceparent": traceparent,
                "protocolversion": event.protocol_version,
                "prevhash": prevhash,
            }
            stored: dict[str, Any] = {k: v for k, v in attributes.items() if v is not None}
            stored["hash"], body = seal_body(stored)
            if len(body) > MAX_EVENT_BYTES:
                raise EventTooLarge(type_name, len(body), MAX_EVENT_BYTES)
            envelopes.append((event_id, str(stored["hash"]), body, stored))
            prevhash = stored["hash"]
        return envelopes, epoch

    async def _publish(
        self,
        case: CaseRef,
        bodies: list[tuple[str, str, bytes]],
        expected_seq: int,
        trace_context: dict[str, str],
    ) -> dict[str, Any]:
        expect = {
            **trace_context,
            "Nats-Expected-Last-Subject-Sequence": str(expected_seq),
            "Nats-Expected-Last-Subject-Sequence-Subject": self.case_filter(case),
        }
        if len(bodies) == 1:
            subject, event_id, body = bodies[0]
            headers = {"Nats-Msg-Id": event_id, **expect}
            reply = await self._acks.request(subject, body, headers, self._timeout)
            return dict(orjson.loads(reply.data))
        batch_id = str(uuid_utils.uuid7())
        for index, (subject, event_id, body) in enumerate(bodies, start=1):
            headers = {
                "Nats-Msg-Id": event_id,
                "Nats-Batch-Id": batch_id,
                "Nats-Batch-Sequence": str(index),
                **(expect if index == 1 else {}),
            }
            if index < len(bodies):
                await self._nc.publish(subject, body, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                reply = await self._acks.request(subject, body, headers, self._timeout)
        return dict(orjson.loads(reply.data))

    async def _resolve_conflict(
        self, case: CaseRef, ids: list[str], expected: CaseVersion
    ) -> AppendResult:
        """Tell a retry of an append already stored (success) from a real conflict."""
        after = await self._reader.read(self.case_filter(case), start_seq=expected.seq + 1)
        mine = after[: len(ids)]
        if [m.msg_id for m in mine] == ids:
            head = str(parse_body(mine[-1].body)["hash"])
            seqs = [m.seq for m in mine]
            return AppendResult(CaseVersion(seqs[-1], head), ids, seqs, duplicate=True)
        actual = after[-1].seq if after else None
        raise ConcurrencyConflict(str(case), expected.seq, actual)

    # --- load ----------------------------------------------------------------------

    async def read_raw(self, case: CaseRef, up_to_seq: int | None = None) -> list[StoredMessage]:
        """The case's stored messages, in order, undecoded (for verification and export)."""
        return await self._reader.read(self.case_filter(case), up_to_seq=up_to_seq)

    async def load(self, case: CaseRef, up_to_seq: int | None = None) -> LoadedCase:
        """The case's events in order with its version; raises ChainBroken if altered."""
        key = self.case_filter(case)
        cached = self._cache.get(key) if self._cache and up_to_seq is None else None
        if cached is None:
            raws, events = await self._read_verified(case, start_seq=1, up_to_seq=up_to_seq)
            if self._cache is not None and up_to_seq is None and events:
                self._cache.put(key, cached_case(raws, events))
            return self._loaded(case, events)
        last = await self._reader.last(key)
        if last is None or last.seq < cached.head.seq:
            self._cache.drop(key)  # type: ignore[union-attr]
            return await self.load(case)
        if last.seq > cached.head.seq:
            # Every event after the head, not just the last one: a fork (two events naming
            # the same predecessor) must fail here exactly as it fails an uncached load.
            newer = await self._read_verified(case, cached.head.seq + 1, None, cached)
            cached = cached.extended(*newer)
            self._cache.put(key, cached)  # type: ignore[union-attr]
        return self._loaded(case, await self._reopen(key, cached))

    def _loaded(self, case: CaseRef, events: list[RecordedEvent]) -> LoadedCase:
        if not events:
            return LoadedCase(case)
        return LoadedCase(case, events, CaseVersion(events[-1].seq, events[-1].envelope.hash))

    async def _reopen(self, key: str, cached: CachedCase) -> list[RecordedEvent]:
        """The cached events, those holding personal data as opened at the current shred
        epoch (leased: no read within the lease): kept from an earlier load if no shred
        committed since, else opened afresh."""
        if not cached.sealed_at:
            return [event for event in cached.events if event is not None]
        sealed = [cached.raws[i] for i in cached.sealed_at]
        if self.codec is None:
            opened = {e.seq: e for e in await self.decoder.decode(sealed)}
            return [
                event or opened[seq]
                for (seq, _), event in zip(cached.raws, cached.events, strict=True)
            ]
        vault = self.codec.vault
        epoch, now = await vault.shred_epoch(), time.monotonic()
        kept = cached.opened_at(epoch, now)
        if kept and cached.full is not None:
            return list(cached.full)
        todo = [raw for raw in sealed if raw[0] not in kept]
        opened = {**kept, **{e.seq: e for e in await self.decoder.decode(todo)}}
        until = cached.until if kept else now + vault.cache.ttl
        cached = cached.with_opened(opened, epoch, until)
        self._cache.put(key, cached)  # type: ignore[union-attr]
        return list(cached.full or ())

    async def _read_verified(
        self,
        case: CaseRef,
        start_seq: int,
        up_to_seq: int | None,
        prefix: CachedCase | None = None,
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[RecordedEvent]]:
        stored = await self._reader.read(self.case_filter(case), start_seq, up_to_seq)
        return await self._verify_and_decode(
            case, stored, [parse_body(m.body) for m in stored], prefix
        )

    async def _verify_and_decode(
        self,
        case: CaseRef,
        stored: list[StoredMessage],
        raws: list[dict[str, Any]],
        prefix: CachedCase | None = None,
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[RecordedEvent]]:
        """Verify messages (continuing `prefix`) and decode them."""
        offset = len(prefix.raws) if prefix else 0
        report = verify_chain(
            raws,
            [m.body for m in stored],
            after=prefix.head.head_hash if prefix else "",
            offset=offset,
        )
        if not report.ok:
            raise ChainBroken(str(case), report.position or 0, report.reason or "")
        for index, (message, raw) in enumerate(zip(stored, raws, strict=True)):
            wrong = misplaced(message.subject, raw)
            if wrong:
                raise ChainBroken(str(case), offset + index, f"event {wrong}")
        pairs = [(m.seq, raw) for m, raw in zip(stored, raws, strict=True)]
        return pairs, await self.decoder.decode(pairs)

    async def close(self) -> None:
        """Release the reader's and the acknowledgements' inbox subscriptions."""
        await self._reader.close()
        await self._acks.close()
