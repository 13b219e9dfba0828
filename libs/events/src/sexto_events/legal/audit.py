"""Putting a read by a legal or analysis tool on the case's record."""

from __future__ import annotations

from sexto_events.auth.principal import Principal
from sexto_events.catalogue.audit import CaseRead
from sexto_events.errors import ConcurrencyConflict
from sexto_events.model import CaseRef, NewEvent
from sexto_events.store import EventStore


async def record_read(
    store: EventStore, principal: Principal, case: CaseRef, view: str, service: str
) -> None:
    """Record who read which view of the case, with which role (retried on a race)."""
    event = NewEvent(CaseRead(view=view, service=service), principal.subject, principal.role)
    for _ in range(5):
        version = (await store.load(case)).version
        try:
            await store.append(case, [event], version)
            return
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(str(case), version.seq, None)
