"""Stored events as their reader may see them: the one path from the log to the legal tools
(history, replay, the court bundle), over sexto_events.disclosure.

A stored event of an older type version is upcast first (its data as stored, sealed values
included, by the catalogue's upcasters), so every event is disclosed by its current
declaration. Personal data is opened (decoded) only for a reader shown one of its classes;
for any other reader the event is disclosed from its sealed form, where a sealed value reads
withheld whatever the table says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sexto_events.catalogue  # noqa: F401 - declares every event type
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, Viewer, disclose
from sexto_events.envelope import Envelope, disclose_event
from sexto_events.model import RecordedEvent

# The classes personal data is sealed under: a reader shown none of them never has it
# opened (and so never has a read of it to record).
PERSONAL_CLASSES = (DataClass.IDENTITY, DataClass.CONTACT, DataClass.NARRATIVE)


def opens_personal_data(viewer: Viewer) -> bool:
    """True when `viewer` is shown personal data in clear: only then is it decoded."""
    return viewer.opens(*PERSONAL_CLASSES)


def disclosed_stored(viewer: Viewer, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stored envelope, its sealed data upcast to the current type version, as `viewer` may
    see it: `type` is the current type, `stored_type` the type as stored.

    Raises UnknownEventType, KeyError, TypeError or ValueError for an event that cannot be
    read as one (no type, no data object, a type the catalogue does not declare).
    """
    stored = str(raw["type"])
    data = raw["data"]
    if not isinstance(data, Mapping):
        raise TypeError("the event's data is not an object")
    type_name, current = CATALOGUE.upcast(stored, dict(data))
    model = CATALOGUE.resolve(type_name)
    shown = disclose_event(viewer, {**raw, "type": type_name, "data": current}, model)
    return shown | {"stored_type": _type(viewer, stored)}


def disclosed_opened(viewer: Viewer, event: RecordedEvent) -> dict[str, Any]:
    """A decoded event (upcast, personal data opened) as `viewer` may see it, in the same
    form as `disclosed_stored`."""
    envelope = event.envelope.to_dict()
    envelope["type"] = type(event.data).type_name()
    envelope["data"] = event.data.model_dump(mode="json")
    shown = disclose_event(viewer, envelope, type(event.data))
    return shown | {"stored_type": _type(viewer, event.stored_type)}


def disclosed_case_id(viewer: Viewer, case_id: str) -> Any:
    """A case id as `viewer` may see it (its class is that of an envelope's subject)."""
    return disclose(viewer, Envelope, {"subject": case_id}, case_id)["subject"]


def _type(viewer: Viewer, type_name: str) -> Any:
    return disclose(viewer, Envelope, {"type": type_name})["type"]
