"""Putting a read of a case on its record, even when the case's chain is broken."""

from __future__ import annotations

from dataclasses import dataclass, field

from sexto_events.catalogue.audit import CaseRead
from sexto_events.commands import execute, execute_on, no_state
from sexto_events.decode import parse_body
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.errors import EventLogError, LogUnavailable
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.principal import Principal
from sexto_events.store import EventStore


@dataclass(frozen=True, slots=True)
class StoredHead:
    """Where a case's stored messages end, whatever their state: the version to append at."""

    version: CaseVersion
    events: tuple[()] = field(default=())


async def stored_head(store: EventStore, case: CaseRef) -> StoredHead:
    """The last stored message's sequence and hash ("" when it does not even decode)."""
    stored = await store.read_raw(case)
    if not stored:
        return StoredHead(CaseVersion.new())
    last = stored[-1]
    try:
        head_hash = str(parse_body(last.body).get("hash", ""))
    except EventLogError:  # not even JSON: the read follows it all the same
        head_hash = ""
    return StoredHead(CaseVersion(last.seq, head_hash))


async def record_read(
    store: EventStore, principal: Principal, case: CaseRef, view: str, service: str
) -> None:
    """Put a read of the case on its record (who, role, when, which view)."""
    read = NewEvent(
        CaseRead(view=view, service=service, policy_version=POLICY_VERSION),
        principal.actor,
        principal.role.value,
    )

    try:
        await execute(store, case, initial=None, evolve=no_state, decide=lambda _, __: [read])
    except LogUnavailable:
        # Not a broken chain: the append may still land (a timeout, 10158), and a second
        # append under a fresh id would record the read twice. The caller retries.
        raise
    except EventLogError:  # a broken chain, or a stored message that does not even decode
        # A broken chain is when a case is most read (by reviewers, to see the break): the
        # read is still recorded, after the last event stored, whatever that event's state.
        await execute_on(
            store,
            case,
            lambda c: stored_head(store, c),
            initial=None,
            evolve=no_state,
            decide=lambda _, __: [read],
        )
