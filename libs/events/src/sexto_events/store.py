"""The event store: append with per-case optimistic concurrency, load with one batched get.

A case's version is the stream sequence of its last event. Appends carry
`Nats-Expected-Last-Subject-Sequence` for the case's subject filter, so a stale writer is
refused by the server itself; several events are written as one atomic batch, so a case
never shows half of a decision.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import uuid_utils
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from sexto_events.case_cache import CachedCase, CaseCache, cached_case
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE, Catalogue
from sexto_events.chain import seal_body, verify_chain
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
from sexto_events.tracing import current_traceparent

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
# in raft), "store is closed" (a leader stepping down under a committed entry), "too many
# requests": the append may or may not land; none is a refusal (nats-server's error table).
OUTCOME_PENDING = (10158, 10077, 10167)


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
    ) -> None:
        self._nc = nc
        self.source = source
        self.codec = codec
        self.catalogue = catalogue
        self.spec = spec or StreamSpec()
        self._clock = clock
        self._timeout = timeout
        self._reader = DirectReader(nc, self.spec.name, timeout=timeout)
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
        built = await self._build(case, events, expected.head_hash)
        ids = [event_id for event_id, _, _, _ in built]
        bodies = [
            (self.subject_for(case, type(e.data)), event_id, body)
            for e, (event_id, _, body, _) in zip(events, built, strict=True)
        ]
        for attempt in range(3):
            try:
                ack = await self._publish(case, bodies, expected.seq)
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
            self._cache_appended(case, expected, events, built, seqs)
            return AppendResult(CaseVersion(last, built[-1][1]), ids, seqs)
        if error is None or error.get("err_code") in CONFLICT_CODES:
            return await self._resolve_conflict(case, ids, expected)
        if error.get("code") == UNAVAILABLE or error.get("err_code") in OUTCOME_PENDING:
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
    ) -> None:
        """Extend a cached case with what this process just wrote on top of it."""
        key = self.case_filter(case)
        cached = self._cache.get(key) if self._cache else None
        if cached is None or cached.head != expected:
            return
        raws = [(seq, stored) for seq, (_, _, _, stored) in zip(seqs, built, strict=True)]
        recorded = [
            RecordedEvent(seq, Envelope.model_construct(**stored), event.data, stored["type"])
            for seq, event, (_, _, _, stored) in zip(seqs, events, built, strict=True)
        ]
        self._cache.put(key, cached.extended(raws, recorded))  # type: ignore[union-attr]

    async def _build(
        self, case: CaseRef, events: Sequence[NewEvent], prevhash: str
    ) -> list[tuple[str, str, bytes, dict[str, Any]]]:
        """(event id, hash, body, stored envelope) of each event, chained from `prevhash`."""
        envelopes = []
        for event in events:
            cls = type(event.data)
            type_name = cls.type_name()
            if self.catalogue.resolve(type_name) is not cls:
                raise UnknownEventType(type_name)
            if not self.catalogue.is_current(cls):
                raise EventLogError(
                    f"{type_name} is superseded by a newer version: write the current version"
                )
            event_id = event.event_id or str(uuid_utils.uuid7())
            data = event.data.model_dump(mode="json")
            if subjects_of(cls, data, case.case_id):
                if self.codec is None:
                    raise EventLogError(
                        f"{type_name} carries personal data but no key vault was configured"
                    )
                data = await self.codec.seal(cls, data, case.case_id, event_id)
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
                "traceparent": current_traceparent(),
                "protocolversion": event.protocol_version,
                "prevhash": prevhash,
            }
            stored: dict[str, Any] = {k: v for k, v in attributes.items() if v is not None}
            stored["hash"], body = seal_body(stored)
            if len(body) > MAX_EVENT_BYTES:
                raise EventTooLarge(type_name, len(body), MAX_EVENT_BYTES)
            envelopes.append((event_id, str(stored["hash"]), body, stored))
            prevhash = stored["hash"]
        return envelopes

    async def _publish(
        self, case: CaseRef, bodies: list[tuple[str, str, bytes]], expected_seq: int
    ) -> dict[str, Any]:
        expect = {
            "Nats-Expected-Last-Subject-Sequence": str(expected_seq),
            "Nats-Expected-Last-Subject-Sequence-Subject": self.case_filter(case),
        }
        if len(bodies) == 1:
            subject, event_id, body = bodies[0]
            headers = {"Nats-Msg-Id": event_id, **expect}
            reply = await self._nc.request(subject, body, self._timeout, headers=headers)
            return dict(json.loads(reply.data))
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
                reply = await self._nc.request(subject, body, self._timeout, headers=headers)
        return dict(json.loads(reply.data))

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
        return self._loaded(case, await self._reopen(cached))

    def _loaded(self, case: CaseRef, events: list[RecordedEvent]) -> LoadedCase:
        if not events:
            return LoadedCase(case)
        return LoadedCase(case, events, CaseVersion(events[-1].seq, events[-1].envelope.hash))

    async def _reopen(self, cached: CachedCase) -> list[RecordedEvent]:
        """The cached events, those holding personal data decoded (opened) afresh."""
        sealed = [raw for raw, event in zip(cached.raws, cached.events, strict=True) if not event]
        opened = iter(await self.decoder.decode(list(sealed)) if sealed else [])
        return [event or next(opened) for event in cached.events]

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
        for index, raw in enumerate(raws):
            if (raw.get("territory"), raw.get("subject")) != (case.territory, case.case_id):
                raise ChainBroken(
                    str(case), offset + index, "event stored under another case's subject"
                )
        pairs = [(m.seq, raw) for m, raw in zip(stored, raws, strict=True)]
        return pairs, await self.decoder.decode(pairs)

    async def close(self) -> None:
        """Release the reader's inbox subscription."""
        await self._reader.close()
