"""The erasures on a case's record, and which of them its hash chain vouches for.

Once an erasure is on record its keys are deleted whatever happened since: a run interrupted
between the record and the deletion is finished by running it again. Only a record the
chain verifies through is trusted so: a forged or altered record erases nothing.
"""

from __future__ import annotations

from typing import Any

from sexto_legal.stored_case import StoredCase, data_of, kind_of

SUBJECT_SHREDDED = "legal.subject_shredded"
CASE_ERASED = "legal.case_erased"
ERASURES = (SUBJECT_SHREDDED, CASE_ERASED)


def _erased_keys(raw: dict[str, Any]) -> set[str]:
    """The subject keys an erasure record lists (none for other events)."""
    if kind_of(raw) == SUBJECT_SHREDDED:
        return {str(data_of(raw).get("subject_key"))}
    if kind_of(raw) == CASE_ERASED:
        listed = data_of(raw).get("subject_keys", [])
        return {str(k) for k in listed} if isinstance(listed, list) else set()
    return set()


def recorded_erasures(raws: list[dict[str, Any]]) -> set[str]:
    """Every subject key whose erasure is on the case's record (verified or not)."""
    return {key for raw in raws for key in _erased_keys(raw)}


def trusted_erasures(found: StoredCase, kinds: tuple[str, ...] = ERASURES) -> set[str]:
    """Subject keys of erasure records (of these kinds) the chain verifies through."""
    return {
        key
        for index, raw in enumerate(found.raws)
        if kind_of(raw) in kinds and found.verified_through(index)
        for key in _erased_keys(raw)
    }


def untrusted_erasure(found: StoredCase, kinds: tuple[str, ...] = ERASURES) -> bool:
    """True when an erasure record (of these kinds) lies at or after a break in the chain."""
    return any(
        kind_of(raw) in kinds and not found.verified_through(index)
        for index, raw in enumerate(found.raws)
    )
