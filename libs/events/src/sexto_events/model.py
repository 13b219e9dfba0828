"""The value types of the event store: case references, versions, new and recorded events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sexto_events.catalogue.base import EventData
from sexto_events.envelope import Envelope
from sexto_events.errors import InvalidCaseRef

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class CaseRef:
    """A case and the territory (police force) it belongs to; both become subject tokens."""

    territory: str
    case_id: str

    def __post_init__(self) -> None:
        for name, value in (("territory", self.territory), ("case id", self.case_id)):
            if not _TOKEN.match(value):
                raise InvalidCaseRef(
                    f"{name} {value!r} must be 1-64 letters, digits, '-' or '_' "
                    "(it becomes a NATS subject token)"
                )

    def __str__(self) -> str:
        return f"{self.territory}/{self.case_id}"


@dataclass(frozen=True, slots=True)
class CaseVersion:
    """A case's version: the stream sequence of its last event, and that event's hash."""

    seq: int
    head_hash: str

    @classmethod
    def new(cls) -> CaseVersion:
        """The version of a case with no event yet."""
        return cls(0, "")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its data and who caused it. Ids and time default at append."""

    data: EventData
    actor: str
    actor_role: str
    correlation_id: str | None = None
    causation_id: str | None = None
    protocol_version: str | None = None
    event_id: str | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event read back: its stored envelope, stream sequence and decoded data."""

    seq: int
    envelope: Envelope
    data: EventData
    stored_type: str

    @property
    def id(self) -> str:
        """The event id."""
        return self.envelope.id


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A case's events in order, chain verified, and its version."""

    case: CaseRef
    events: list[RecordedEvent] = field(default_factory=list)
    version: CaseVersion = field(default_factory=CaseVersion.new)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append stored; `duplicate` when a retry found its events already there."""

    version: CaseVersion
    event_ids: list[str]
    seqs: list[int]
    duplicate: bool = False
