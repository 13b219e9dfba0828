"""Putting a read of a case on its record, even when the case's chain is broken."""

from __future__ import annotations

from sexto_events.catalogue.audit import CaseRead
from sexto_events.commands import execute, no_state
from sexto_events.decode import parse_body
from sexto_events.errors import (
    ConcurrencyConflict,
    EventLogError,
)
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.principal import Principal
from sexto_events.store import EventStore


async def record_read(
    store: EventStore, principal: Principal, case: CaseRef, view: str, service: str
) -> None:
    """Put a read of the case on its record (who, role, when, which view)."""
    read = NewEvent(CaseRead(view=view, service=service), principal.subject, principal.role.value)

    try:
        await execute(store, case, initial=None, evolve=no_state, decide=lambda _, __: [read])
    except EventLogError:  # a broken chain, or a stored message that does not even decode
        # A broken chain is when a case is most read (by reviewers, to see the break): the
        # read is still recorded, after the last event stored, whatever that event's state.
        await _append_after_raw_head(store, case, read)


async def _append_after_raw_head(store: EventStore, case: CaseRef, event: NewEvent) -> None:
    for _ in range(5):
        stored = await store.read_raw(case)
        head = CaseVersion.new()
        if stored:
            last = stored[-1]
            try:
                head_hash = str(parse_body(last.body).get("hash", ""))
            except EventLogError:  # not even JSON: the read follows it all the same
                head_hash = ""
            head = CaseVersion(last.seq, head_hash)
        try:
            await store.append(case, [event], head)
            return
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(str(case), head.seq, None)
