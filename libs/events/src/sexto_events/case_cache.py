"""Verified case prefixes kept in memory: the log is immutable, so a prefix never changes.

A cached load asks the server only for the case's last event (one cheap direct get) and
reads, verifies and decodes just the events after the cached head. Personal data is
never kept decrypted: events carrying it are kept sealed and opened again at every load,
so erasure (shredding) takes effect on the next load.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sexto_events.model import CaseVersion, RecordedEvent
from sexto_events.personal import has_personal_fields


@dataclass(frozen=True, slots=True)
class CachedCase:
    """A verified prefix of a case: stored envelopes, decoded events, head."""

    raws: tuple[tuple[int, dict[str, Any]], ...]
    events: tuple[RecordedEvent | None, ...]  # None: holds personal data, opened per load
    head: CaseVersion

    def extended(
        self, raws: list[tuple[int, dict[str, Any]]], events: list[RecordedEvent]
    ) -> CachedCase:
        """This prefix followed by newer verified events."""
        return CachedCase(
            self.raws + tuple(raws),
            self.events + tuple(keepable(e) for e in events),
            CaseVersion(events[-1].seq, events[-1].envelope.hash) if events else self.head,
        )


def keepable(event: RecordedEvent) -> RecordedEvent | None:
    """The event itself if it may stay decoded in memory, else None."""
    return None if has_personal_fields(type(event.data)) else event


def cached_case(raws: list[tuple[int, dict[str, Any]]], events: list[RecordedEvent]) -> CachedCase:
    """A cache entry for a whole case just loaded."""
    return CachedCase((), (), CaseVersion.new()).extended(raws, events)


class CaseCache:
    """A bounded LRU of verified case prefixes, keyed by the case's subject filter."""

    def __init__(self, max_cases: int) -> None:
        self._max = max_cases
        self._entries: OrderedDict[str, CachedCase] = OrderedDict()

    def get(self, key: str) -> CachedCase | None:
        """The cached prefix, if any."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CachedCase) -> None:
        """Keep `entry` unless a longer prefix is already cached (concurrent loads)."""
        current = self._entries.get(key)
        if current is not None and current.head.seq > entry.head.seq:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        """Forget a case."""
        self._entries.pop(key, None)
