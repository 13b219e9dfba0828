"""The one command path: load the case, fold it into the service's state, decide on that
state, append at the version it was loaded at, and on a concurrency conflict do it all again.

Every write of every service goes through `execute`, reactors included. The decision is
the service's pure domain function; this module only supplies what it needs (the state
and the loaded case) and records what it returns.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sexto_events.errors import ConcurrencyConflict
from sexto_events.model import (
    AppendResult,
    CaseRef,
    CaseVersion,
    LoadedCase,
    NewEvent,
    RecordedEvent,
)
from sexto_events.store import EventStore

S = TypeVar("S")
T = TypeVar("T")

# What a decision returns: the events to append (none: nothing to do), or the answer of a
# first attempt already on the record (a retried command records nothing again).
Decided = list[NewEvent] | AppendResult
Decide = Callable[[S, LoadedCase], Decided | Awaitable[Decided]]
Evolve = Callable[[S, RecordedEvent], S]

ATTEMPTS = 5


def fold(initial: S, evolve: Evolve[S], events: Iterable[RecordedEvent]) -> S:
    """The state after all of a case's events, one `evolve(state, event)` at a time."""
    state = initial
    for event in events:
        state = evolve(state, event)
    return state


def no_state(state: None, _: RecordedEvent) -> None:
    """The evolve of a decision that needs only the loaded events."""
    return state


async def execute(
    store: EventStore,
    case: CaseRef,
    *,
    initial: S,
    evolve: Evolve[S],
    decide: Decide[S],
    attempts: int = ATTEMPTS,
) -> AppendResult:
    """Load the case, decide on its state, append at the loaded version; on a conflict
    (another writer appended first), load and decide again, at most `attempts` times.

    A domain error raised by `decide` propagates unchanged, with nothing appended.
    """

    async def attempt() -> AppendResult:
        loaded = await store.load(case)
        decided = decide(fold(initial, evolve, loaded.events), loaded)
        if inspect.isawaitable(decided):
            decided = await decided
        if isinstance(decided, AppendResult):
            return decided
        if not decided:
            return AppendResult(loaded.version, [], [])
        return await store.append(case, decided, loaded.version)

    return await retrying(attempt, case, attempts)


async def retrying(
    attempt: Callable[[], Awaitable[T]], case: CaseRef, attempts: int = ATTEMPTS
) -> T:
    """Run `attempt` (read, decide, append at the version read) again while another writer
    appends first; for the writers that cannot load a verified case (legal tooling reads
    stored messages raw, whatever the chain's state). Everyone else uses `execute`."""
    for _ in range(attempts - 1):
        try:
            return await attempt()
        except ConcurrencyConflict:
            continue  # someone else wrote first: decide again on what they wrote
    return await attempt()  # the last conflict propagates: the case is too busy now


def already_recorded(loaded: LoadedCase, event_id: str) -> AppendResult | None:
    """The answer of a first attempt whose event (this id) is on the case already."""
    for event in loaded.events:
        if event.id == event_id:
            version = CaseVersion(event.seq, event.envelope.hash)
            return AppendResult(version, [event.id], [event.seq], duplicate=True)
    return None


async def append_once(store: EventStore, case: CaseRef, event: NewEvent) -> bool:
    """Append `event` unless its id is on the case already; True if appended now.

    The event id should derive from the cause (`derived_event_id`), so a second delivery of
    the cause, a restart, or another replica finds it there.
    """
    event_id = event.event_id
    assert event_id is not None, "give the event an id derived from its cause"

    def decide(_: None, loaded: LoadedCase) -> Decided:
        return already_recorded(loaded, event_id) or [event]

    result = await execute(store, case, initial=None, evolve=no_state, decide=decide)
    return not result.duplicate
