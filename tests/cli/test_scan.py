"""A scan of the log ends only when the server confirms it saw everything, never on a
quiet moment: an empty fetch, a lost delivery or a removed reader is not the end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from sexto_events.errors import EventLogError
from sexto_events.pull import PullFeed
from sexto_events.store import EventStore
from sexto_legal import scan as scan_module
from sexto_legal.scan import StreamPosition, scan
from sexto_legal.verification import verify_log

from tests.cli.conftest import NewCase, write_case
from tests.support.raw import copy_case


async def seeded(nc: Client, store: EventStore, side: EventStore, new_case: NewCase) -> int:
    for _ in range(3):
        case = new_case()
        await write_case(store, case)
        await copy_case(nc, await store.read_raw(case), side, case)
    return 18


class Quiet(PullFeed):
    """A feed whose every other fetch comes back empty (a pull that timed out)."""

    calls = 0

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        Quiet.calls += 1
        if Quiet.calls % 2 == 0:
            return []
        return await super().fetch(batch, wait_s)


class Lossy(PullFeed):
    """A feed that loses its second batch (delivered by the server, never received)."""

    calls = 0

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        msgs = await super().fetch(batch, wait_s)
        Lossy.calls += 1
        return [] if Lossy.calls == 2 else msgs


async def test_empty_fetches_do_not_end_a_scan(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    total = await seeded(nc, store, side_store, new_case)
    monkeypatch.setattr(scan_module, "PullFeed", Quiet)

    unfiltered = [m async for msgs in scan(nc, side_store.spec, batch=4) for m in msgs]
    root = side_store.spec.subject_root
    filtered = [
        m
        async for msgs in scan(nc, side_store.spec, filters=[f"{root}.*.*.intake.>"], batch=2)
        for m in msgs
    ]
    verified = await verify_log(nc, side_store.spec)

    assert len(unfiltered) == total
    assert len(filtered) == 9  # reported, device secured, note: per case
    assert (verified.events, verified.ok) == (total, True)


async def test_lost_deliveries_fail_the_scan(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    await seeded(nc, store, side_store, new_case)
    monkeypatch.setattr(scan_module, "PullFeed", Lossy)

    with pytest.raises(EventLogError, match="the read is incomplete"):
        async for _ in scan(nc, side_store.spec, batch=4, stall_s=1):
            pass


async def test_a_reader_removed_by_the_server_fails_the_scan(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    await seeded(nc, store, side_store, new_case)
    name = side_store.spec.name

    async def read_while_the_reader_is_removed() -> None:
        async for _ in scan(nc, side_store.spec, batch=4):
            listed = json.loads((await nc.request(f"$JS.API.CONSUMER.NAMES.{name}", b"")).data)
            for consumer in listed["consumers"]:
                await nc.request(f"$JS.API.CONSUMER.DELETE.{name}.{consumer}", b"")

    with pytest.raises(EventLogError, match="removed the log reader"):
        await read_while_the_reader_is_removed()


async def test_a_scan_from_past_the_end_ends_at_once(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    await seeded(nc, store, side_store, new_case)
    future = StreamPosition(time=datetime.now(UTC) + timedelta(days=1))

    by_time = [m async for msgs in scan(nc, side_store.spec, start=future, stall_s=2) for m in msgs]
    by_seq = [
        m
        async for msgs in scan(nc, side_store.spec, start=StreamPosition(seq=999), stall_s=2)
        for m in msgs
    ]

    assert by_time == by_seq == []


class LossyInside(PullFeed):
    """A feed that loses one message inside a batch (the final one: the whole log in one)."""

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        msgs = await super().fetch(batch, wait_s)
        return msgs[:1] + msgs[2:] if len(msgs) > 2 else msgs


async def test_a_delivery_lost_inside_the_final_batch_fails_the_scan(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    await seeded(nc, store, side_store, new_case)
    monkeypatch.setattr(scan_module, "PullFeed", LossyInside)

    with pytest.raises(EventLogError, match="skipped deliveries 2-2"):
        async for _ in scan(nc, side_store.spec, stall_s=1):
            pass
