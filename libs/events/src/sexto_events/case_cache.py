"""Verified case prefixes kept in memory: the log is immutable, so a prefix never changes.

A cached load asks the server only for the case's last event (one cheap direct get) and
reads, verifies and decodes just the events after the cached head. Events carrying
personal data are kept sealed; their opened form is kept beside them only for the shred
epoch it was opened at and at most the key cache's time to live: every load checks the
epoch (as leased, `sexto_events.epoch_lease`), and once any shred has returned they are
opened again (an erased field reads erased on the next load, as before).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from sexto_events.model import CaseVersion, RecordedEvent
from sexto_events.personal import has_personal_fields


@dataclass(frozen=True, slots=True)
class CachedCase:
    """A verified prefix of a case: stored envelopes, decoded events, head."""

    raws: tuple[tuple[int, dict[str, Any]], ...]
    events: tuple[RecordedEvent | None, ...]  # None: holds personal data, see `opened`
    head: CaseVersion
    sealed_at: tuple[int, ...] = ()  # positions of the events holding personal data
    # Stream sequence -> the event opened, valid at shred epoch `epoch` until `until`; `full`
    # is every event with those opened, when they cover them all (a load copies it whole).
    opened: dict[int, RecordedEvent] = field(default_factory=dict)
    epoch: int = -1
    until: float = 0.0
    full: tuple[RecordedEvent, ...] | None = None

    def opened_at(self, epoch: int, now: float) -> dict[int, RecordedEvent]:
        """The opened events still valid at `epoch` and `now` (none after a shred)."""
        return self.opened if epoch == self.epoch and now < self.until else {}

    def with_opened(self, opened: dict[int, RecordedEvent], epoch: int, until: float) -> CachedCase:
        """This prefix with its personal data opened at `epoch`, kept until `until`."""
        full = tuple(
            event or opened[seq] for (seq, _), event in zip(self.raws, self.events, strict=True)
        )
        return replace(self, opened=opened, epoch=epoch, until=until, full=full)

    def extended(
        self, raws: list[tuple[int, dict[str, Any]]], events: list[RecordedEvent]
    ) -> CachedCase:
        """This prefix followed by newer verified events."""
        kept = tuple(keepable(e) for e in events)
        start = len(self.events)
        sealed = tuple(start + i for i, event in enumerate(kept) if event is None)
        return CachedCase(
            self.raws + tuple(raws),
            self.events + kept,
            CaseVersion(events[-1].seq, events[-1].envelope.hash) if events else self.head,
            self.sealed_at + sealed,
            self.opened,
            self.epoch,
            self.until,
            self.full + tuple(events) if self.full is not None and not sealed else None,
        )

    def extended_sealed(
        self,
        raws: list[tuple[int, dict[str, Any]]],
        events: list[RecordedEvent],
        epoch: int | None,
    ) -> CachedCase:
        """Extended with events this process wrote: their personal data is known in clear,
        sealed under keys checked at shred epoch `epoch` (None: nothing was sealed). It joins
        the opened events only if they were opened at that same epoch; otherwise a shred
        may lie between the two (a subject erased in the opened events but not in what was
        written), so the opened events are dropped and the next load opens them all."""
        grown = self.extended(raws, events)
        if self.full is None:
            return grown
        if epoch is not None and epoch != self.epoch:
            return replace(grown, opened={}, epoch=-1, until=0.0, full=None)
        fresh = {e.seq: e for e in events if keepable(e) is None}
        return replace(grown, opened={**self.opened, **fresh}, full=self.full + tuple(events))


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
