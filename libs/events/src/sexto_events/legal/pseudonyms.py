"""Stable keyed pseudonyms for analysts: the same person or case always maps to the same token.

HMAC-SHA256 under a key derived (HKDF) from the master key: stable across replays, so
analyses join, and not reversible by anyone without the master key. Students' refs are
only unique within a case, so their pseudonyms are keyed by case too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sexto_events.personal import SEALED_MARK

WITHHELD = "[withheld]"
# Refs that name a student: unique only within their case.
CASE_SCOPED_REFS = frozenset({"student_ref", "student_refs", "owner_ref"})
# Envelope attributes dropped for analysts: they link to traces, not to facts.
DROPPED = frozenset({"traceparent"})


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
                return WITHHELD
            return self._data(value, case)
        if isinstance(value, list):
            return [self._value(key, item, case) for item in value]
        if isinstance(value, str) and (key.endswith(("_ref", "_refs")) or key == "reference"
                                       or key.endswith("_reference")):  # fmt: skip
            if key in CASE_SCOPED_REFS:
                return self.name("student", f"{case}:{value}")
            return self.name("person" if key.endswith(("_ref", "_refs")) else "file", value)
        return value
