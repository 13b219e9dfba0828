"""Recording a process's outcome on a case, exactly once, whatever retries happen."""

from __future__ import annotations

from sexto_events.errors import ConcurrencyConflict
from sexto_events.model import CaseRef, NewEvent
from sexto_events.store import EventStore


async def append_once(store: EventStore, case: CaseRef, event: NewEvent, attempts: int = 5) -> bool:
    """Append `event` at the case's current version unless its id is on the record already.

    The event id should derive from the cause (`derived_event_id`), so a second delivery of
    the cause, a restart, or another replica finds it there. Returns True if appended now.
    """
    assert event.event_id is not None, "give the event an id derived from its cause"
    for _ in range(attempts):
        loaded = await store.load(case)
        if any(e.id == event.event_id for e in loaded.events):
            return False
        try:
            await store.append(case, [event], loaded.version)
        except ConcurrencyConflict:
            continue  # someone else wrote first: look again
        return True
    raise ConcurrencyConflict(str(case), loaded.version.seq, None)


class Reactor:
    """A projection whose effect is an event on the case, not a table of its own."""

    name = "reactor"

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def migrate(self, conn: object) -> None:
        """No table of its own."""

    async def drop(self, conn: object) -> None:
        """No table of its own."""
