"""Stable keyed pseudonyms for analysts: the same person or case always maps to the same token.

HMAC-SHA256 under a key derived (HKDF) from the master key: stable across replays, so
analyses join, and not reversible by anyone without the master key. Students' refs are
only unique within a case, so their pseudonyms are keyed by case too. Envelope hashes
are dropped: computed over the real ids, they would let a guess be tested.

What analysts see of an event's data is decided by an allow-list over the catalogue's
field names (FIELDS): codes, times and protocol texts are kept; refs to people, students,
files and kit seals are renamed; subject keys are renamed part by part; free text is
withheld. A string field not in the list is withheld, and a test requires every string
field of every declared event type to be in it, so a new field is classified on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sexto_events.disclosure import SEALED_MARK, withheld

# Envelope attributes dropped for analysts: traceparent links to traces, not to facts;
# hash and prevhash are computed over the real case id, actor and refs, so anyone knowing a
# case id could test candidate actors (or refs) against an event's hash.
DROPPED = frozenset({"traceparent", "hash", "prevhash"})


class Kind(StrEnum):
    """How a data field reaches analysts."""

    KEEP = "keep"  # codes from closed lists, times, ids of events, protocol texts
    PERSON = "person"  # a ref to a professional: a keyed pseudonym
    STUDENT = "student"  # a student's ref, unique within the case: keyed by case too
    FILE = "file"  # a court, police or prosecutor file reference
    SEAL = "kit_seal"  # a kit's seal number (printed on a bag a court file cites)
    SUBJECT_KEY = "subject_key"  # kind:case[:ref] — case and student renamed
    WITHHOLD = "withhold"  # free text, contact details: never shown


_KEPT = """about_event_id about_type agency agreement_id answers assessment_event_id at attended
certified_on channel closed_at deadline decision delivery_id discovered_at discovery_channel
en erased field follow_up fr grade grid_event_id in_force_from in_force_to indication kind
language level measure outcome protocol read reason recipient_kind recommendation
recommendation_en recommendation_fr resolution role rule_id school_id service signed_on step
step_id supersedes template_version territory_id urgency view"""
_CLASSIFIED = {
    Kind.KEEP: _KEPT,
    Kind.PERSON: "dispatcher_ref intervener_id intervener_ref officer_ref recipient_ref",
    Kind.STUDENT: "owner_ref student_ref student_refs",
    Kind.FILE: "call_reference dpcp_file_reference reference",
    Kind.SEAL: "missing_seals seal_number seal_numbers unexpected_seals",
    Kind.SUBJECT_KEY: "subject_key subject_keys",
    Kind.WITHHOLD: "action detail email justification name note reasons summary text",
}
# Every string field name of the catalogue, and how analysts see it.
FIELDS: dict[str, Kind] = {
    name: kind for kind, names in _CLASSIFIED.items() for name in names.split()
}
# Containers kept whole (protocol choices keyed by the protocol's field ids).
KEPT_WHOLE = frozenset({"answers"})
_SUBJECT_KEY = re.compile(r"^([a-z_]{1,32}):([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9_-]{1,64}))?$")


class Pseudonymiser:
    """Replaces case ids, actors, refs and file references by keyed pseudonyms."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._memo: dict[str, str] = {}

    @classmethod
    def from_master_key(cls, master_key: bytes) -> Pseudonymiser:
        """A pseudonymiser whose key is derived from the master key (HKDF-SHA256)."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sexto-pseudonyms-v1")
        return cls(hkdf.derive(master_key))

    def name(self, kind: str, value: str) -> str:
        """The pseudonym of `value` in namespace `kind` (e.g. person, case, student)."""
        text = f"{kind}:{value}"
        found = self._memo.get(text)
        if found is None:
            digest = hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:20]
            found = f"{kind[0]}-{digest}"
            if len(self._memo) > 200_000:
                self._memo.clear()
            self._memo[text] = found
        return found

    def envelope(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A pseudonymised copy of a stored envelope: personal fields withheld, refs renamed."""
        case = str(raw.get("subject", ""))
        out = {k: v for k, v in raw.items() if k not in DROPPED}
        out["subject"] = self.name("case", case)
        if "actor" in raw:
            out["actor"] = self.name("person", str(raw["actor"]))
        data = raw.get("data")
        if isinstance(data, dict):
            out["data"] = self._data(data, case)
        return out

    def _data(self, data: dict[str, Any], case: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out[key] = self._value(key, value, case)
        return out

    def _value(self, key: str, value: Any, case: str) -> Any:
        if isinstance(value, dict):
            if value.get(SEALED_MARK) is not None:
                return withheld()
            return value if key in KEPT_WHOLE else self._data(value, case)
        if isinstance(value, list):
            return [self._value(key, item, case) for item in value]
        if not isinstance(value, str):
            return value
        kind = FIELDS.get(key, Kind.WITHHOLD)
        if kind is Kind.KEEP:
            return value
        if kind is Kind.STUDENT:
            return self.name("student", f"{case}:{value}")
        if kind in (Kind.PERSON, Kind.FILE, Kind.SEAL):
            return self.name(kind.value, value)
        if kind is Kind.SUBJECT_KEY:
            return self.subject_key(value)
        return withheld()

    def subject_key(self, key: str) -> str | dict[str, bool]:
        """A data subject's key id with its case and student renamed as elsewhere."""
        parsed = _SUBJECT_KEY.match(key)
        if parsed is None:
            return withheld()
        kind, case, ref = parsed.groups()
        renamed = f"{kind}:{self.name('case', case)}"
        if not ref:
            return renamed
        if kind == "recipient":  # named as its recipient_ref is (a person), so erasures join
            return f"{renamed}:{self.name('person', ref)}"
        return f"{renamed}:{self.name('student', f'{case}:{ref}')}"
