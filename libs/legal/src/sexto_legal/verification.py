"""Verifying hash chains: one case, or every case of the log in one ordered pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from sexto_events.chain import (
    HASH_FIELD,
    PREVHASH_FIELD,
    ChainReport,
    body_matches_hash,
    compute_hash,
    misplaced,
    verify_chain,
)
from sexto_events.direct_get import StoredMessage
from sexto_events.model import CaseRef
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

from sexto_legal.scan import scan, stream_state


async def verify_case(store: EventStore, case: CaseRef) -> ChainReport:
    """The case's chain verified from the stored bytes (never raises on a broken chain)."""
    return verify_stored(case, await store.read_raw(case))


def verify_stored(case: CaseRef, stored: Sequence[StoredMessage]) -> ChainReport:
    """Verify a case's stored messages, in stream order."""
    raws: list[dict[str, Any]] = []
    for index, message in enumerate(stored):
        try:
            raw = json.loads(message.body)
        except ValueError:
            return ChainReport(len(stored), index, None, "stored message is not JSON")
        if not isinstance(raw, dict):
            return ChainReport(len(stored), index, None, "stored message is not a JSON object")
        wrong = misplaced(message.subject, raw)
        if wrong is None and (raw.get("territory"), raw.get("subject")) != (
            case.territory,
            case.case_id,
        ):
            wrong = "stored under another case"
        if wrong:
            return ChainReport(len(stored), index, str(raw.get("id")), wrong)
        raws.append(raw)
    return verify_chain(raws, [m.body for m in stored])


def head_hash(stored: Sequence[StoredMessage]) -> str:
    """The hash the last stored message claims ("" for none)."""
    return str(json.loads(stored[-1].body).get(HASH_FIELD, "")) if stored else ""


@dataclass
class _Head:
    count: int = 0
    last_hash: str = ""


@dataclass
class LogVerification:
    """The outcome of verifying every case: counts, and the first break of each broken case."""

    events: int = 0
    cases: int = 0
    broken: dict[str, ChainReport] = field(default_factory=dict)
    expected: int = 0

    @property
    def complete(self) -> bool:
        """True when at least every event the stream held when the pass began was read."""
        return self.events >= self.expected

    @property
    def ok(self) -> bool:
        """True when every case verified and the pass read the whole log."""
        return not self.broken and self.complete


class ChainFolder:
    """Verifies interleaved events of many cases, one message at a time, in stream order."""

    def __init__(self) -> None:
        self._heads: dict[str, _Head] = {}
        self.result = LogVerification()

    def add(self, subject: str, body: bytes) -> None:
        """Check one stored message against the head of its case."""
        tokens = subject.split(".")
        key = f"{tokens[1]}/{tokens[2]}" if len(tokens) > 2 else subject
        self.result.events += 1
        head = self._heads.get(key)
        if head is None:
            head = self._heads[key] = _Head()
            self.result.cases += 1
        if key in self.result.broken:
            head.count += 1
            return
        position = head.count
        head.count += 1
        reason, event_id = self._check(tokens, body, head)
        if reason is not None:
            self.result.broken[key] = ChainReport(position + 1, position, event_id, reason)

    @staticmethod
    def _check(tokens: list[str], body: bytes, head: _Head) -> tuple[str | None, str | None]:
        try:
            raw = json.loads(body)
        except ValueError:
            return "stored message is not JSON", None
        if not isinstance(raw, dict):
            return "stored message is not a JSON object", None
        event_id = str(raw.get("id"))
        wrong = misplaced(".".join(tokens), raw)
        if wrong:
            return wrong, event_id
        claimed = raw.get(HASH_FIELD)
        if not body_matches_hash(body, claimed) and claimed != compute_hash(raw):
            return "content does not match its hash (altered)", event_id
        if raw.get(PREVHASH_FIELD) != head.last_hash:
            if head.count == 1:
                return "first event must have an empty prevhash (events missing before it)", (
                    event_id
                )
            return (
                "prevhash does not match the previous event (removed, inserted or reordered)",
                event_id,
            )
        head.last_hash = str(claimed)
        return None, event_id


async def verify_log(
    nc: Client, spec: StreamSpec, progress: Callable[[int, int], None] | None = None
) -> LogVerification:
    """Every case's chain, verified in one ordered pass over the stream."""
    total = (await stream_state(nc, spec)).messages
    folder = ChainFolder()
    folder.result.expected = total
    async for msgs in scan(nc, spec):
        for msg in msgs:
            folder.add(msg.subject, msg.data)
        if progress is not None:
            progress(folder.result.events, total)
    return folder.result
