"""Unwrapped personal-data keys kept in memory: bounded, short-lived, and valid only at the
shred epoch they were read at.

Every shred bumps one counter in PostgreSQL (`sexto_keys.shred_epoch`) in the transaction
that deletes the key. The vault checks the counter on every use of the cache (as leased,
`sexto_events.epoch_lease`: read at most once per lease period) and an entry read at an
older epoch is never handed out: once a shred has returned, no process can use a key it
cached before, without any message having to reach it first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _Entry:
    key: bytes
    epoch: int
    expires: float


class KeyCache:
    """Subject -> unwrapped key, least recently used evicted beyond `max_keys`."""

    def __init__(
        self, max_keys: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys = max_keys
        self.ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._epoch = -1  # the newest shred epoch seen

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, subject: str) -> bool:
        """True when the subject has an entry, valid or not (worth checking the epoch)."""
        return subject in self._entries

    def get(self, subjects: Iterable[str], epoch: int) -> dict[str, bytes]:
        """The keys still valid at `epoch` and not expired; stale entries are dropped."""
        self._observe(epoch)
        now = self._clock()
        found = {}
        for subject in subjects:
            entry = self._entries.get(subject)
            if entry is None:
                continue
            if entry.epoch != epoch or entry.expires <= now:
                del self._entries[subject]
                continue
            self._entries.move_to_end(subject)
            found[subject] = entry.key
        return found

    def put(self, keys: dict[str, bytes], epoch: int) -> None:
        """Keep keys read at `epoch` (read before the keys); ignored if a newer epoch is known."""
        self._observe(epoch)
        if epoch != self._epoch or self.max_keys <= 0:
            return
        expires = self._clock() + self.ttl
        for subject, key in keys.items():
            self._entries[subject] = _Entry(key, epoch, expires)
            self._entries.move_to_end(subject)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)

    def drop(self, subject: str) -> None:
        """Forget one subject's key (this process shredded it)."""
        self._entries.pop(subject, None)

    def _observe(self, epoch: int) -> None:
        if epoch > self._epoch:
            # A shred committed somewhere: every key read before it is suspect.
            self._entries.clear()
            self._epoch = epoch
