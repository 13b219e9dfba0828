"""The event store against a real nats-server: concurrency, idempotency, loading, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
import uuid_utils
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE, Catalogue
from sexto_events.envelope import format_time, parse_time
from sexto_events.errors import (
    ConcurrencyConflict,
    EventSchemaError,
    EventTooLarge,
    UnknownEventType,
)
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore

from tests.support.events import note, reported


async def test_append_then_load_returns_events_in_order_with_version(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    first = await store.append(case, [reported()], CaseVersion.new())
    second = await store.append(case, [note("one"), note("two")], first.version)

    loaded = await store.load(case)

    assert [e.data.text for e in loaded.events[1:]] == ["one", "two"]  # type: ignore[attr-defined]
    assert loaded.version == second.version
    assert loaded.version.seq == second.seqs[-1] > first.version.seq
    assert [e.seq for e in loaded.events] == [*first.seqs, *second.seqs]
    assert loaded.events[1].envelope.prevhash == loaded.events[0].envelope.hash


async def test_envelope_is_cloudevents_with_every_extension(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await store.append(case, [reported()], CaseVersion.new())

    raw = json.loads((await store.read_raw(case))[0].body)

    assert raw["specversion"] == "1.0"
    assert raw["type"] == "org.sexto.intake.case_reported.v2"
    assert raw["subject"] == case.case_id
    assert raw["source"] == "sexto/tests"
    assert raw["datacontenttype"] == "application/json"
    assert uuid_utils.UUID(raw["id"]).version == 7
    assert raw["time"].endswith("Z")
    for extension in ("territory", "actor", "actorrole", "correlationid", "causationid"):
        assert raw[extension]
    assert raw["territory"] == case.territory
    assert raw["prevhash"] == ""
    assert len(raw["hash"]) == 64


async def test_subject_names_territory_case_context_and_event(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await store.append(case, [reported()], CaseVersion.new())

    stored = await store.read_raw(case)

    assert stored[0].subject == f"cases.{case.territory}.{case.case_id}.intake.case_reported"


async def test_two_concurrent_writers_on_one_case_exactly_one_wins(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    start = await store.append(case, [reported()], CaseVersion.new())

    results = await asyncio.gather(
        store.append(case, [note("writer A")], start.version),
        store.append(case, [note("writer B")], start.version),
        return_exceptions=True,
    )

    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1
    assert len(conflicts) == 1
    assert conflicts[0].expected == start.version.seq
    assert conflicts[0].actual == wins[0].version.seq
    assert len((await store.load(case)).events) == 2


async def test_a_stale_multi_event_append_writes_none_of_its_events(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    start = await store.append(case, [reported()], CaseVersion.new())
    await store.append(case, [note("first")], start.version)

    with pytest.raises(ConcurrencyConflict):
        await store.append(case, [note("late 1"), note("late 2")], start.version)

    assert len((await store.load(case)).events) == 2


async def test_writers_on_different_cases_never_conflict(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    cases = [new_case() for _ in range(16)]
    territory = cases[0].territory
    same_territory = [CaseRef(territory, c.case_id) for c in cases]

    results = await asyncio.gather(
        *(store.append(c, [reported()], CaseVersion.new()) for c in same_territory),
        return_exceptions=True,
    )

    assert not [r for r in results if isinstance(r, BaseException)]
    for c in same_territory:
        assert len((await store.load(c)).events) == 1


@pytest.mark.parametrize("count", [1, 3])
async def test_a_retried_append_with_the_same_event_ids_stores_once(
    store: EventStore, new_case: Callable[[], CaseRef], count: int
) -> None:
    case = new_case()
    start = await store.append(case, [reported()], CaseVersion.new())
    ids = [str(uuid_utils.uuid7()) for _ in range(count)]
    events = [note(f"n{i}", event_id=ids[i]) for i in range(count)]

    first = await store.append(case, events, start.version)
    retry = await store.append(case, events, start.version)

    assert not first.duplicate
    assert retry.duplicate
    assert retry.version == first.version
    assert retry.seqs == first.seqs
    loaded = await store.load(case)
    assert [e.id for e in loaded.events[1:]] == ids


async def test_a_retry_after_someone_else_appended_is_still_a_conflict(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    start = await store.append(case, [reported()], CaseVersion.new())
    await store.append(case, [note("someone else")], start.version)

    with pytest.raises(ConcurrencyConflict):
        await store.append(case, [note("mine", event_id=str(uuid_utils.uuid7()))], start.version)


async def test_loading_an_unknown_case_gives_no_events_and_version_zero(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    loaded = await store.load(new_case())

    assert loaded.events == []
    assert loaded.version == CaseVersion.new()


async def test_load_spans_several_direct_get_batches(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    for chunk in range(7):
        batch = [note(f"note {chunk}-{i}") for i in range(100)]
        version = (await store.append(case, batch, version)).version

    loaded = await store.load(case)

    assert len(loaded.events) == 701
    assert loaded.version == version
    assert [e.seq for e in loaded.events] == sorted(e.seq for e in loaded.events)


async def test_a_case_grown_by_another_writer_loads_whole(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    other_writer = EventStore(nc, source="sexto/tests", codec=store.codec)
    case = new_case()
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    assert len((await store.load(case)).events) == 1  # the reader now expects 1 event

    for i in range(3):
        version = (await other_writer.append(case, [note(f"elsewhere {i}")], version)).version
    loaded = await store.load(case)

    assert len(loaded.events) == 4
    assert loaded.version == version
    await other_writer.close()


async def test_load_up_to_a_sequence_gives_what_was_known_then(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    first = await store.append(case, [reported()], CaseVersion.new())
    await store.append(case, [note("later")], first.version)

    then = await store.load(case, up_to_seq=first.version.seq)

    assert len(then.events) == 1
    assert then.version == first.version


async def test_unknown_event_type_is_refused(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    class Undeclared(EventData):
        pass

    Undeclared.event_context, Undeclared.event_name, Undeclared.type_version = ("x", "y", 1)

    with pytest.raises(UnknownEventType, match=r"org\.sexto\.x\.y\.v1"):
        await store.append(
            new_case(), [NewEvent(Undeclared(), "a", "intervener")], CaseVersion.new()
        )
    with pytest.raises(UnknownEventType, match="declared once in the catalogue"):
        CATALOGUE.validate("org.sexto.intake.nothing.v1", {})


def test_data_failing_its_schema_is_refused_with_every_problem() -> None:
    with pytest.raises(EventSchemaError) as caught:
        CATALOGUE.validate(
            "org.sexto.intake.case_closed.v1", {"resolution": "Not A Slug", "colour": "red"}
        )

    text = str(caught.value)
    assert "resolution" in text
    assert "colour" in text
    assert "Not A Slug" not in text  # refused values are never echoed (they may be personal)


async def test_an_event_over_64_kib_is_refused_and_nothing_is_written(
    nc: Client, side_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    # No declared event can grow that large (every text field is bounded), so a catalogue
    # of its own declares one that can.
    catalogue = Catalogue()

    @catalogue.declare("testing", "bloated", 1)
    class Bloated(EventData):
        padding: list[str]

    # On a stream of its own: the services' consumers must never meet an undeclared type.
    bloated_store = EventStore(nc, source="sexto/tests", catalogue=catalogue, spec=side_store.spec)
    case = new_case()
    start = await bloated_store.append(
        case, [NewEvent(Bloated(padding=[]), "a", "x")], CaseVersion.new()
    )
    too_big = NewEvent(Bloated(padding=["z" * 1000] * 70), "a", "x")

    with pytest.raises(EventTooLarge, match="over the 65536-byte limit"):
        await bloated_store.append(
            case, [NewEvent(Bloated(padding=["ok"]), "a", "x"), too_big], start.version
        )

    assert len(await side_store.read_raw(case)) == 1
    await bloated_store.close()


async def test_server_refuses_delete_and_purge_on_the_stream(nc: Client, store: EventStore) -> None:
    name = store.spec.name
    purge = json.loads((await nc.request(f"$JS.API.STREAM.PURGE.{name}", b"{}", 5)).data)
    delete = json.loads(
        (await nc.request(f"$JS.API.STREAM.MSG.DELETE.{name}", b'{"seq": 1}', 5)).data
    )

    assert purge["error"]["description"] == "stream purge not permitted"
    assert delete["error"]["description"] == "message delete not permitted"


async def test_a_cached_case_sees_its_own_and_others_appends_in_order(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    other_writer = EventStore(nc, source="sexto/tests", codec=store.codec, cache_cases=0)
    uncached = EventStore(nc, source="sexto/tests", codec=store.codec, cache_cases=0)
    case = new_case()
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    await store.load(case)  # cached from here on
    version = (await store.append(case, [note("mine")], version)).version
    version = (
        await other_writer.append(case, [note("theirs 1"), note("theirs 2")], version)
    ).version
    await store.append(case, [note("mine again")], version)

    cached, fresh = await store.load(case), await uncached.load(case)

    assert [e.envelope.hash for e in cached.events] == [e.envelope.hash for e in fresh.events]
    assert [e.data for e in cached.events] == [e.data for e in fresh.events]
    assert cached.version == fresh.version
    await other_writer.close()
    await uncached.close()


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2200, 1, 1),
        # fixed offsets: zoneinfo's gaps and folds compare unequal by design
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_event_times_are_rfc3339_utc_with_microseconds(moment: datetime) -> None:
    text = format_time(moment)

    assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_time(text) == moment
