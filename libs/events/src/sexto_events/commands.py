"""The one command path: load the case, fold it into the service's state, decide on that
state, append at the version it was loaded at, and on a concurrency conflict do it all again.

Every write goes through `execute` (or `execute_on`, the same path over a raw reading of
the case), reactors, the read recorder and the legal tooling included. The decision is
the service's pure domain function; this module only supplies what it needs (the state
and the loaded case) and records what it returns.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

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
E_co = TypeVar("E_co", covariant=True)
L = TypeVar("L", bound="Loaded[Any]")

# What a decision returns: the events to append (none: nothing to do), or the answer of a
# first attempt already on the record (a retried command records nothing again).
Decided = list[NewEvent] | AppendResult
Decide = Callable[[S, LoadedCase], Decided | Awaitable[Decided]]
Evolve = Callable[[S, RecordedEvent], S]

# Writers of one case that collide decide again, a little apart: independent facts (twenty
# notes, devices and students sent at once) all go in, each once, without the caller
# retrying what the server can; a case busier than this is a 409 that says so.
ATTEMPTS = 25
BACKOFF_S = 0.004  # the n-th retry waits up to n times this, at random


def fold(initial: S, evolve: Callable[[S, Any], S], events: Iterable[Any]) -> S:
    """The state after all of a case's events, one `evolve(state, event)` at a time."""
    state = initial
    for event in events:
        state = evolve(state, event)
    return state


def no_state(state: None, _: object) -> None:
    """The evolve of a decision that needs only the loaded events."""
    return state


class Loaded(Protocol[E_co]):
    """A case as a command reads it: its events, and the version to append at."""

    @property
    def version(self) -> CaseVersion:
        """The version the decision's events are appended at."""
        ...

    @property
    def events(self) -> Sequence[E_co]:
        """The case's events, in order."""
        ...


async def execute(
    store: EventStore,
    case: CaseRef,
    *,
    initial: S,
    evolve: Evolve[S],
    decide: Decide[S],
    attempts: int = ATTEMPTS,
) -> AppendResult:
    """Load the case (verified), decide on its state, append at the loaded version; on a
    conflict (another writer appended first), load and decide again, at most `attempts` times.

    A domain error raised by `decide` propagates unchanged, with nothing appended.
    """
    return await execute_on(
        store, case, store.load, initial=initial, evolve=evolve, decide=decide, attempts=attempts
    )


async def execute_on(
    store: EventStore,
    case: CaseRef,
    load: Callable[[CaseRef], Awaitable[L]],
    *,
    initial: S,
    evolve: Callable[[S, Any], S],
    decide: Callable[[S, L], Decided | Awaitable[Decided]],
    attempts: int = ATTEMPTS,
) -> AppendResult:
    """`execute` over another reading of the case: the legal tooling and the read recorder
    read stored messages raw, so that they can act on a case whose chain is broken."""

    async def attempt() -> AppendResult:
        loaded = await load(case)
        decided = decide(fold(initial, evolve, loaded.events), loaded)
        if inspect.isawaitable(decided):
            decided = await decided
        if isinstance(decided, AppendResult):
            return decided
        if not decided:
            return AppendResult(loaded.version, [], [])
        return await store.append(case, decided, loaded.version)

    for retry in range(1, attempts):
        try:
            return await attempt()
        except ConcurrencyConflict:
            # Someone else wrote first: decide again on what they wrote, after a random
            # wait so that the writers who collided do not collide again in step.
            await asyncio.sleep(random.uniform(0, BACKOFF_S * retry))  # noqa: S311 - jitter
    return await attempt()  # the last conflict propagates: the case is too busy now


def already_recorded(loaded: LoadedCase, event_id: str) -> AppendResult | None:
    """The answer of a first attempt whose event (this id) is on the case already."""
    for event in loaded.events:
        if event.id == event_id:
            version = CaseVersion(event.seq, event.envelope.hash)
            return AppendResult(version, [event.id], [event.seq], duplicate=True)
    return None


async def append_once(
    store: EventStore, case: CaseRef, event: NewEvent, *, read: LoadedCase | None = None
) -> bool:
    """Append `event` unless its id is on the case already; True if appended now.

    The event id should derive from the cause (`derived_event_id`), so a second delivery of
    the cause, a restart, or another replica finds it there. `read`: the case as the caller
    has just loaded it, decided on first instead of loading it again (on a conflict, the
    case is loaded afresh as always).
    """
    event_id = event.event_id
    assert event_id is not None, "give the event an id derived from its cause"
    first = [read] if read is not None else []

    async def load(ref: CaseRef) -> LoadedCase:
        return first.pop() if first else await store.load(ref)

    def decide(_: None, loaded: LoadedCase) -> Decided:
        return already_recorded(loaded, event_id) or [event]

    result = await execute_on(store, case, load, initial=None, evolve=no_state, decide=decide)
    return not result.duplicate
