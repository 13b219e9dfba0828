"""Event ids that a retry reproduces: UUIDv7 laid out, derived from the causing event.

A process reacting to an event (opening grids when a case is reported) may run twice for
the same cause; deriving its event's id from the cause's id makes the second append a
recognised duplicate. The cause's timestamp keeps the id time-ordered like any UUIDv7.
"""

from __future__ import annotations

import hashlib
import uuid


def derived_event_id(cause_id: str, purpose: str) -> str:
    """A UUIDv7-shaped id fixed by (cause, purpose)."""
    cause = uuid.UUID(cause_id)
    digest = int.from_bytes(hashlib.sha256(f"{cause_id}|{purpose}".encode()).digest()[:10])
    timestamp_ms = cause.int >> 80
    value = (timestamp_ms << 80) | (0x7 << 76) | ((digest >> 68) & 0xFFF) << 64
    value |= (0b10 << 62) | (digest & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))
