"""Batched direct gets on the real server: how far a read goes, and how much it asks for.

The messages are not events: they go to a stream of their own, never to the suite's CASES
(whose services' consumers would retry and park each of them)."""

from __future__ import annotations

import uuid

from nats.aio.client import Client
from sexto_events.direct_get import DirectReader, _Batch
from sexto_events.store import EventStore


class RecordingReader(DirectReader):
    """A reader that records the size of each batch it asks for, and lets a test write
    between the first answer and the next request (as a busy writer would)."""

    def __init__(
        self, nc: Client, stream: str, subject: str = "", between: list[bytes] | None = None
    ) -> None:
        super().__init__(nc, stream)
        self._stream = stream
        self.sizes: list[int] = []
        self._subject = subject
        self._between = between or []

    async def _request(self, subject_filter: str, seq: int, size: int) -> _Batch:
        self.sizes.append(size)
        batch = await super()._request(subject_filter, seq, size)
        js = self._nc.jetstream()
        for body in self._between:
            await js.publish(self._subject, body, stream=self._stream)
        self._between = []
        return batch


async def written(nc: Client, side: EventStore, count: int) -> tuple[str, str, list[int]]:
    """A fresh case's subject and filter on the side stream holding `count` messages, and
    their sequences."""
    case = f"{side.spec.subject_root}.readertest.{uuid.uuid4().hex}"
    subject = f"{case}.bench.raw"
    js = nc.jetstream()
    stream = side.spec.name
    seqs = [(await js.publish(subject, f"m{i}".encode(), stream=stream)).seq for i in range(count)]
    return subject, f"{case}.>", seqs


async def test_a_read_that_does_not_follow_stops_at_what_was_stored_when_it_began(
    nc: Client, side_store: EventStore
) -> None:
    subject, case_filter, seqs = await written(nc, side_store, 5)
    late = [b"late 1", b"late 2"]
    stream = side_store.spec.name
    frozen = RecordingReader(nc, stream, subject, between=late)
    following = RecordingReader(nc, stream, subject, between=late)

    # Starting past the first message, the first batch asks for one; each reader has two
    # more messages stored once that batch is answered.
    first = await frozen.read(case_filter, start_seq=seqs[1], follow=False)
    chased = await following.read(case_filter, start_seq=seqs[1])

    assert [m.seq for m in first] == seqs[1:]
    assert [m.body for m in chased] == [b"m1", b"m2", b"m3", b"m4", *late, *late]
    await frozen.close()
    await following.close()


async def test_a_bounded_read_asks_for_no_more_than_its_bound(
    nc: Client, side_store: EventStore
) -> None:
    _, case_filter, seqs = await written(nc, side_store, 10)
    reader = RecordingReader(nc, side_store.spec.name)

    got = await reader.read(case_filter, start_seq=seqs[2], up_to_seq=seqs[4])

    assert [m.seq for m in got] == seqs[2:5]
    # One to learn how many follow, then exactly the two left up to the bound (it used to
    # ask for all seven that follow and discard five).
    assert reader.sizes == [1, 2]
    await reader.close()
