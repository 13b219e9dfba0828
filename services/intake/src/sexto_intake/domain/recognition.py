"""Recognising a student seen before: a keyed blind index of the school's own student
number, per territory (DOMAIN.md: never by name, and erasable).

The index is HMAC-SHA256 under the territory's key (kept in the key vault, never in the
log): the same number gives the same index within a territory only, and nothing about the
number can be learnt from the index without the key. The number itself is never recorded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from sexto_events.catalogue.intake import PriorInvolvementNoted


def index_key_id(territory: str) -> str:
    """The key vault's id of a territory's index key."""
    return f"student_index:{territory}"


def blind_index(key: bytes, student_number: str) -> str:
    """The index of a student number under a territory's key (case and spaces ignored:
    "ab 123" and "AB123" are the same school number)."""
    normalised = "".join(student_number.split()).casefold()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def decide_prior_involvement(earlier: Mapping[str, int]) -> list[PriorInvolvementNoted]:
    """For each student of the new case found in earlier cases (ref -> how many), the
    warning to record on the new case; in the order of the refs given."""
    return [
        PriorInvolvementNoted(student_ref=ref, earlier_cases=count)
        for ref, count in earlier.items()
        if count > 0
    ]
