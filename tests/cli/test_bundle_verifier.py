"""The bundle's standalone verifier canonicalises exactly as the log's hash chain does."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sexto_events.chain import canonical_json, compute_hash
from sexto_legal import bundle_verify

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_the_verifier_canonicalises_like_rfc8785(value: dict[str, Any]) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception:  # the reference refuses some inputs (e.g. lone surrogates): so do we
        return
    assert bundle_verify.canonical(value).encode() == expected
    assert bundle_verify.canonical(value).encode() == canonical_json(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_written_as_ecmascript_writes_them(number: float) -> None:
    assert bundle_verify.es_number(number).encode() == rfc8785.dumps(number)


def test_the_verifier_hashes_an_envelope_like_the_log() -> None:
    envelope = {"id": "e1", "subject": "c1", "data": {"é": 1.5, "a": [1, "x\n"]}, "hash": "h"}

    assert bundle_verify.event_hash(envelope) == compute_hash(envelope)
