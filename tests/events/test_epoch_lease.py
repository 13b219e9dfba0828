"""The shred-epoch lease alone: a fake clock and a counted read, no servers."""

from __future__ import annotations

import asyncio

import pytest
from sexto_events.epoch_lease import EpochLease, settle_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Epochs:
    """The database's epoch: each read answers `value`, taking `takes` seconds of the clock."""

    def __init__(self, clock: Clock, value: int = 7) -> None:
        self.clock = clock
        self.value = value
        self.takes = 0.0
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None
        self.following: int | None = None
        self.entered = asyncio.Event()  # a read has been issued

    async def read(self) -> int:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.clock.now += self.takes
        if self.failure is not None:
            raise self.failure
        value = self.value
        if self.following is not None:
            self.value = self.following
        return value


def lease_of(seconds: float = 1.0) -> tuple[EpochLease, Epochs, Clock]:
    clock = Clock()
    epochs = Epochs(clock)
    return EpochLease(epochs.read, seconds, clock), epochs, clock


async def test_the_epoch_is_read_once_per_lease_period() -> None:
    lease, epochs, clock = lease_of(1.0)

    assert await lease.current() == 7
    epochs.value = 8  # a shred committed elsewhere: trusted stale while the lease runs
    clock.now += 0.99
    assert await lease.current() == 7
    assert lease.reads == 1

    clock.now += 0.01  # the lease has run out: read again
    assert await lease.current() == 8
    assert lease.reads == 2


async def test_a_lease_runs_from_when_its_read_was_issued_not_when_it_answered() -> None:
    lease, epochs, clock = lease_of(1.0)
    epochs.takes = 0.4

    await lease.current()  # issued at 100.0, answered at 100.4
    clock.now = 100.99
    await lease.current()
    assert lease.reads == 1
    clock.now = 101.0
    await lease.current()
    assert lease.reads == 2


async def test_concurrent_callers_share_one_read() -> None:
    lease, epochs, _ = lease_of(1.0)
    epochs.gate = asyncio.Event()

    waiting = [asyncio.ensure_future(lease.current()) for _ in range(20)]
    await asyncio.sleep(0)
    epochs.gate.set()

    assert await asyncio.gather(*waiting) == [7] * 20
    assert lease.reads == 1


async def test_a_read_slower_than_the_lease_is_not_trusted_by_who_asked_after_it_was_issued() -> (
    None
):
    lease, epochs, clock = lease_of(1.0)
    epochs.gate = asyncio.Event()
    first = asyncio.ensure_future(lease.current())
    await epochs.entered.wait()  # the read was issued at 100.0
    clock.now = 100.1
    second = asyncio.ensure_future(lease.current())  # joins it
    await asyncio.sleep(0)
    epochs.takes = 1.5  # the read answers at 101.6, its lease over
    epochs.gate.set()
    epochs.following = 8  # what the next read answers (a shred committed meanwhile)

    assert await first == 7  # issued after it asked: as fresh as a read of its own
    assert await second == 8  # read again for it
    assert lease.reads == 2


async def test_a_newer_epoch_replaces_the_lease_an_older_one_is_ignored() -> None:
    lease, _, clock = lease_of(1.0)
    assert await lease.current() == 7

    lease.observe(9, issued=clock.now)  # this process's own shred, or a read beside keys
    assert await lease.current() == 9
    lease.observe(8, issued=clock.now + 5)  # a slow reader's older epoch
    clock.now += 0.5
    assert await lease.current() == 9
    assert lease.reads == 1

    lease.observe(9, issued=clock.now)  # the same epoch read again renews the lease
    clock.now += 0.9
    assert await lease.current() == 9
    assert lease.reads == 1


async def test_without_a_lease_every_use_reads() -> None:
    lease, _, _ = lease_of(0.0)
    for _ in range(3):
        assert await lease.current() == 7
    assert lease.reads == 3


async def test_a_failed_read_reaches_every_waiter_and_the_next_use_reads_again() -> None:
    lease, epochs, _ = lease_of(1.0)
    epochs.gate = asyncio.Event()
    epochs.failure = OSError("connection to the key store lost")
    waiting = [asyncio.ensure_future(lease.current()) for _ in range(3)]
    await asyncio.sleep(0)
    epochs.gate.set()

    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(o) for o in outcomes] == [OSError] * 3
    epochs.failure = None
    assert await lease.current() == 7
    assert lease.reads == 2


def test_a_lease_must_be_a_finite_number_of_seconds() -> None:
    for seconds in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite number of seconds"):
            EpochLease(Epochs(Clock()).read, seconds)


def test_a_shred_waits_longer_than_the_lease() -> None:
    assert settle_seconds(1.0) == pytest.approx(1.06)
    assert settle_seconds(0.0) > 0
