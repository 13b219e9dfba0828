"""Events and bodies the benchmarks write: plain facts, no personal data unless asked."""

from __future__ import annotations

import json
import uuid

from sexto_events.catalogue.audit import CaseRead
from sexto_events.catalogue.intake import NoteAdded
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.model import CaseRef, NewEvent


def read_event() -> NewEvent:
    """A small event without personal data (an audit record of a read)."""
    return NewEvent(
        CaseRead(view="history", service="intake", policy_version=POLICY_VERSION),
        "legal-reviewer-3",
        "legal_reviewer",
    )


def note_event() -> NewEvent:
    """An event with sealed free text (one key lookup and one AES-GCM seal)."""
    return NewEvent(
        NoteAdded(text="met the student with a parent; phone sealed"), "iv-1", "intervener"
    )


def raw_body(size: int = 520) -> bytes:
    """A JSON body of about the size of a sealed envelope, for the raw baselines."""
    return json.dumps({"id": str(uuid.uuid4()), "pad": "x" * (size - 60)}).encode()


def fresh_cases(territory: str, n: int) -> list[CaseRef]:
    """`n` new cases."""
    return [CaseRef(territory, uuid.uuid4().hex) for _ in range(n)]
