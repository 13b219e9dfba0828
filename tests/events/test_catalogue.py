"""The catalogue: declared once, versioned, snapshot-checked, upcast on load."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from sexto_events.catalogue import CATALOGUE, Catalogue, EventData
from sexto_events.catalogue.intake import DeviceSecured, DeviceSecuredV1
from sexto_events.catalogue.snapshot import SNAPSHOT, render
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore

from tests.support.raw import envelope_for, publish_raw


def test_catalogue_matches_the_committed_schema_snapshot() -> None:
    # On a deliberate change: python -m sexto_events.catalogue.snapshot, review, commit,
    # and add an upcaster if stored events change shape.
    assert render(CATALOGUE.snapshot()) == SNAPSHOT.read_text()


def test_snapshot_marks_personal_fields() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    note = snapshot["org.sexto.intake.note_added.v1"]["schema"]["properties"]["text"]

    assert note["x-personal-data"] == {"subject": "case", "ref": "$case"}


def test_an_event_type_cannot_be_declared_twice() -> None:
    catalogue = Catalogue()

    @catalogue.declare("demo", "happened", 1)
    class Happened(EventData):
        pass

    assert Happened.type_name() == "org.sexto.demo.happened.v1"
    with pytest.raises(ValueError, match="declared twice"):

        @catalogue.declare("demo", "happened", 1)
        class Again(EventData):
            pass


async def test_a_v1_event_is_upcast_to_v2_on_load(
    nc: Client, side_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    legacy = envelope_for(
        case,
        DeviceSecuredV1.type_name(),
        {"owner_ref": "stu-1", "switched_off": False, "seal_number": "SX-0042"},
        prevhash="",
    )
    await publish_raw(nc, side_store, case, "intake.device_secured", legacy.to_bytes())

    loaded = await side_store.load(case)

    event = loaded.events[0]
    assert event.stored_type == "org.sexto.intake.device_secured.v1"
    assert event.data == DeviceSecured(
        owner_ref="stu-1", measure="flight_mode", seal_number="SX-0042"
    )
    assert event.envelope.data["switched_off"] is False  # the stored event is never rewritten


async def test_only_the_current_version_is_written(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    old = DeviceSecuredV1(owner_ref="stu-1", switched_off=True)

    with pytest.raises(EventLogError, match="superseded"):
        await store.append(new_case(), [NewEvent(old, "a", "intervener")], CaseVersion.new())
