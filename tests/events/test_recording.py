"""Recording reads and decisions against a case's current version."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest
from nats.aio.client import Client
from sexto_events.catalogue.audit import CaseRead
from sexto_events.commands import execute, no_state
from sexto_events.decode import parse_body
from sexto_events.errors import ChainBroken, LogUnavailable
from sexto_events.model import AppendResult, CaseRef, CaseVersion, LoadedCase, NewEvent
from sexto_events.principal import Principal, Role
from sexto_events.recording import record_read
from sexto_events.store import EventStore

from tests.support.events import note, reported
from tests.support.raw import publish_raw

REVIEWER = Principal("lr-7", Role.LEGAL_REVIEWER)


async def test_a_decision_is_taken_again_on_the_new_version_after_a_conflict(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await store.append(case, [reported()], CaseVersion.new())
    seen: list[int] = []

    async def decide(_: None, loaded: LoadedCase) -> list[NewEvent]:
        seen.append(len(loaded.events))
        if len(seen) == 1:  # someone else writes while this decision is being taken
            await store.append(case, [note()], loaded.version)
        return [note()]

    result = await execute(store, case, initial=None, evolve=no_state, decide=decide)
    assert seen == [1, 2]
    assert len((await store.load(case)).events) == 3
    assert result.version == (await store.load(case)).version


async def test_a_read_is_recorded_even_on_a_case_whose_chain_is_broken(
    nc: Client, side_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await side_store.append(case, [reported(), note()], CaseVersion.new())
    stored = await side_store.read_raw(case)
    altered = parse_body(stored[-1].body)
    altered["data"]["text"] = {"erased": True}  # changed after the fact, hash left as it was
    altered["id"] = "01933b6c-0000-7000-8000-0000000000aa"
    await publish_raw(nc, side_store, case, "intake.note_added", json.dumps(altered).encode())
    with pytest.raises(ChainBroken):
        await side_store.load(case)

    await record_read(side_store, REVIEWER, case, "legal_history", "intake")

    after = await side_store.read_raw(case)
    assert len(after) == len(stored) + 2
    last = parse_body(after[-1].body)
    assert last["type"] == CaseRead.type_name()
    assert last["actor"] == "lr-7"
    assert last["actorrole"] == "legal_reviewer"
    assert last["prevhash"] == altered["hash"]  # recorded after the last event stored


async def test_a_read_is_recorded_after_a_stored_message_that_is_not_even_json(
    nc: Client, side_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await side_store.append(case, [reported()], CaseVersion.new())
    await publish_raw(nc, side_store, case, "intake.note_added", b"\x00 not json")

    await record_read(side_store, REVIEWER, case, "legal_export", "intake")

    after = await side_store.read_raw(case)
    assert len(after) == 3
    assert parse_body(after[-1].body)["type"] == CaseRead.type_name()


async def test_a_read_whose_append_may_still_land_is_not_appended_again(
    side_store: EventStore, new_case: Callable[[], CaseRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = new_case()
    await side_store.append(case, [reported()], CaseVersion.new())
    stored_append = side_store.append

    async def stored_then_unacknowledged(
        case: CaseRef, events: Sequence[NewEvent], expected: CaseVersion
    ) -> AppendResult:
        await stored_append(case, events, expected)  # it lands, but the answer is lost
        raise LogUnavailable("no acknowledgement after 3 tries")

    monkeypatch.setattr(side_store, "append", stored_then_unacknowledged)
    with pytest.raises(LogUnavailable):
        await record_read(side_store, REVIEWER, case, "legal_history", "intake")

    types = [parse_body(m.body)["type"] for m in await side_store.read_raw(case)]
    assert types.count(CaseRead.type_name()) == 1
