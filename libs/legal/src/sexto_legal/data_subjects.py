"""The data subjects of a case's personal data: the keys that seal it, and what a key names.

A subject key is `<kind>:<case id>` or `<kind>:<case id>:<ref>`: case:<case id> seals the
data written while the case is open, student:<case id>:<student ref> a student's.
"""

from __future__ import annotations

import re
from typing import Any

from sexto_events.personal import SEALED_MARK

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
