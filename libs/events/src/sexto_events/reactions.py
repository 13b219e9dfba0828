"""Reactors: processes that answer events by recording new ones through the command path."""

from __future__ import annotations

from sexto_events.store import EventStore


class Reactor:
    """An event handler whose effect is an event on the case, not a table of its own."""

    name = "reactor"

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def migrate(self, conn: object) -> None:
        """No table of its own."""

    async def drop(self, conn: object) -> None:
        """No table of its own."""
