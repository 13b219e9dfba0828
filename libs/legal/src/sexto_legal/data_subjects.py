"""The data subjects of a case's personal data: the keys that seal it, and what a key names.

A subject key is `<kind>:<case id>` or `<kind>:<case id>:<ref>`: case:<case id> seals the
data written while the case is open, student:<case id>:<student ref> a student's,
recipient:<case id>:<recipient ref> the address of someone to tell (a parent, staff).
"""

from __future__ import annotations

import re
from typing import Any

from sexto_events.disclosure import SEALED_MARK

RECIPIENT_REGISTERED = "org.sexto.notification.recipient_registered."
SUBJECT_KEY = re.compile(r"^([a-z_]{1,32}):([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9_-]{1,64}))?$")


def case_of_subject(subject_key: str) -> str | None:
    """The case id a subject key names (None when it is not a subject key)."""
    parsed = SUBJECT_KEY.match(subject_key)
    return parsed.group(2) if parsed else None


def sealed_subjects(raws: list[dict[str, Any]]) -> set[str]:
    """Every data subject whose key seals a value in these stored envelopes."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get(SEALED_MARK) is not None and isinstance(value.get("kid"), str):
                found.add(value["kid"])
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for raw in raws:
        walk(raw.get("data"))
    return found


def family_of(raws: list[dict[str, Any]], subject_key: str) -> set[str]:
    """The subject keys erased with a student's: their parents registered as recipients on
    the case (a parent's address says whose parent they are, so it goes with the student)."""
    parsed = SUBJECT_KEY.match(subject_key)
    if parsed is None or parsed.group(1) != "student" or parsed.group(3) is None:
        return set()
    case_id, student_ref = parsed.group(2), parsed.group(3)
    return {
        f"recipient:{case_id}:{data['recipient_ref']}"
        for raw in raws
        if str(raw.get("type", "")).startswith(RECIPIENT_REGISTERED)
        and isinstance(data := raw.get("data"), dict)
        and data.get("kind") == "parent"
        and data.get("student_ref") == student_ref
        and isinstance(data.get("recipient_ref"), str)
    }
