"""The shred epoch, leased: read from PostgreSQL at most once per lease period per vault.

Cached keys and opened personal data are valid only at the shred epoch they were read at
(`sexto_events.key_cache`). Reading the epoch on every use cost a round trip per sealed
command; instead an epoch read by a statement issued at t0 is trusted until t0 + L (the
lease, `SEXTO_KEY_LEASE_S`). `KeyVault.shred` commits and then waits L and a margin before
returning: a lease that still shows the old epoch came from a statement issued before the
commit, so it has expired by the time shred returns, and every use after that reads the
epoch again. The lease costs each shred L of latency; it saves the round trip of every
other use of a cached key.

Two conditions hold it together: a shred waits at least every lease a process may hold
(each vault records its lease in the key database before it trusts any epoch, and a shred
waits the longest recorded: `KeyVault`), and the epoch is read from the primary, never a
replica that may lag behind a commit. Time is measured on a clock that keeps
counting while the machine sleeps: a lease must not outlive a suspended laptop's nap.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable

DEFAULT_LEASE_S = 1.0
# What a shredder waits beyond the lease: clocks of two machines may run at slightly
# different rates, and a lease is taken a little after its read is issued.
MARGIN_RATIO = 0.05
MARGIN_S = 0.01


def lease_clock() -> float:
    """Seconds on a clock that counts suspended time too: CLOCK_BOOTTIME on Linux, and on
    macOS CLOCK_MONOTONIC (which counts sleep there, where `time.monotonic` does not)."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    if sys.platform == "darwin":
        return time.clock_gettime(time.CLOCK_MONOTONIC)
    return time.monotonic()


def settle_seconds(lease_s: float) -> float:
    """How long a shred waits after its commit so that every lease taken before it expired."""
    return lease_s * (1 + MARGIN_RATIO) + MARGIN_S


def _retrieved(task: asyncio.Task[tuple[int, float]]) -> None:
    if not task.cancelled():
        task.exception()


class EpochLease:
    """The newest shred epoch seen and until when it may be trusted without a read.

    `read` returns the epoch from the database; concurrent callers share one read in flight.
    """

    def __init__(
        self,
        read: Callable[[], Awaitable[int]],
        seconds: float = DEFAULT_LEASE_S,
        clock: Callable[[], float] = lease_clock,
    ) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the shred-epoch lease must be a finite number of seconds >= 0")
        self.seconds = seconds
        self.reads = 0  # how many times the epoch was read from the database
        self.clock = clock
        self._read = read
        self._epoch = -1
        self._until = -math.inf
        self._reading: asyncio.Task[tuple[int, float]] | None = None

    async def current(self) -> int:
        """The shred epoch: the leased one while the lease runs, else read again."""
        asked = self.clock()
        if asked < self._until:
            return self._epoch
        while True:
            if self._reading is None or self._reading.done():
                self._reading = asyncio.ensure_future(self._read_now())
                # Its failure reaches every waiter; retrieved here too should none be left.
                self._reading.add_done_callback(_retrieved)
            epoch, issued = await asyncio.shield(self._reading)
            # A read issued before this caller asked is good only while its own lease runs
            # (a stalled read may outlast it); one issued after is as fresh as any.
            if issued >= asked or self.clock() < issued + self.seconds:
                return epoch

    def observe(self, epoch: int, issued: float) -> None:
        """Take `epoch` as read by a statement issued at `issued` (any read of the epoch,
        a shred's own commit included): a newer epoch replaces the lease, the same renews it."""
        if epoch > self._epoch:
            self._epoch, self._until = epoch, issued + self.seconds
        elif epoch == self._epoch:
            self._until = max(self._until, issued + self.seconds)

    async def _read_now(self) -> tuple[int, float]:
        issued = self.clock()
        self.reads += 1
        self.observe(await self._read(), issued)
        return self._epoch, issued
