"""Deciding a directory entry: pure, given what the directory already holds."""

from __future__ import annotations

from dataclasses import dataclass

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.directory import AgreementRecorded
from sexto_events.messages import Message

from sexto_intake.domain.errors import (
    AlreadyRegistered,
    InvalidDirectoryEntry,
    UnknownTerritory,
)


@dataclass(frozen=True, slots=True)
class Known:
    """What the directory holds that an entry depends on."""

    entity: str  # the entry's own id
    taken: bool  # an entry of the same kind already has that id
    territory_id: str | None = None  # the territory it names, if any
    territory_known: bool = True


def decide_entry(entry: EventData, known: Known) -> EventData:
    """The entry as recorded, or a refusal: a duplicate id (409), a territory the directory
    does not hold or dates that contradict each other (422)."""
    if known.taken:
        raise AlreadyRegistered(Message("already-registered", entity=known.entity))
    if known.territory_id is not None and not known.territory_known:
        raise UnknownTerritory(Message("unknown-territory", territory=known.territory_id))
    if (
        isinstance(entry, AgreementRecorded)
        and entry.in_force_to is not None
        and entry.in_force_to < entry.in_force_from
    ):
        raise InvalidDirectoryEntry(
            Message(
                "agreement-ends-before-it-starts",
                to=entry.in_force_to.isoformat(),
                start=entry.in_force_from.isoformat(),
            )
        )
    return entry
