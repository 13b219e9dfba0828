"""A case as stored, read without verification: its envelopes, the version to append at,
and how far its hash chain verifies.

Holds and erasures read a case this way, not through a verified load, so that they can act
on a case whose chain is broken: place a hold on it (that is when one is most needed), or
refuse to erase it and say why (its record is evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sexto_events.chain import ChainReport, verify_chain
from sexto_events.decode import parse_body
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore


def kind_of(raw: dict[str, Any]) -> str:
    """`context.event` of a stored envelope's type ("" when it has none)."""
    return ".".join(str(raw.get("type", "")).split(".")[2:4])


def data_of(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored envelope's `data` ({} when it has none, or not an object)."""
    data = raw.get("data")
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as stored, parsed without verification: its envelopes, version and chain."""

    case: CaseRef
    raws: list[dict[str, Any]]
    version: CaseVersion
    chain: ChainReport

    @property
    def events(self) -> list[dict[str, Any]]:
        """The stored envelopes, as the command path folds them (sexto_events.commands)."""
        return self.raws

    def verified_through(self, index: int) -> bool:
        """True when the chain verifies from the first event up to and including `index`."""
        return self.chain.position is None or index < self.chain.position


async def read_stored(store: EventStore, case: CaseRef) -> StoredCase:
    """The case's stored envelopes (an unreadable one as {}) and the version to append at."""
    stored = await store.read_raw(case)
    raws: list[dict[str, Any]] = []
    for message in stored:
        try:
            raws.append(parse_body(message.body))
        except EventLogError:
            raws.append({})
    version = (
        CaseVersion(stored[-1].seq, str(raws[-1].get("hash", ""))) if stored else CaseVersion.new()
    )
    return StoredCase(case, raws, version, verify_chain(raws, [m.body for m in stored]))
