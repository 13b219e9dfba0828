"""Analysts' pseudonymisation is an allow-list over the catalogue: every string field of
every declared event type is classified, and nothing names a case, a student or a text."""

from __future__ import annotations

from typing import Any

import sexto_events.catalogue  # noqa: F401 - declares every event type
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import withheld
from sexto_legal.pseudonyms import FIELDS, KEPT_WHOLE, Pseudonymiser

CASE = "01JDCASE0000000000000000AB"


def string_fields(schema: dict[str, Any], defs: dict[str, Any], name: str) -> set[str]:
    """Names of the properties whose values are (or hold) strings, outside kept containers."""
    if "$ref" in schema:
        return string_fields(defs[schema["$ref"].split("/")[-1]], defs, name)
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= string_fields(sub, defs, name)
    if schema.get("type") == "object":
        for prop, sub in schema.get("properties", {}).items():
            if prop not in KEPT_WHOLE:
                found |= string_fields(sub, defs, prop)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            found |= string_fields(extra, defs, name)
    elif schema.get("type") == "array":
        found |= string_fields(schema.get("items", {}), defs, name)
    elif schema.get("type") == "string" or "enum" in schema or "const" in schema:
        found.add(name)
    return found


def test_every_string_field_of_every_declared_type_is_classified() -> None:
    unclassified = {}
    for cls in CATALOGUE.types():
        schema = cls.model_json_schema()
        missing = string_fields(schema, schema.get("$defs", {}), "") - set(FIELDS)
        if missing:
            unclassified[cls.type_name()] = sorted(missing)

    assert not unclassified, f"classify these fields in legal/pseudonyms.py FIELDS: {unclassified}"


def envelope(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": "e1", "type": type_name, "subject": CASE, "territory": "spvm",
            "actor": "admin-1", "actorrole": "admin", "data": data}  # fmt: skip


def test_erasures_and_free_text_name_no_case_student_or_text() -> None:
    pseudonyms = Pseudonymiser(b"k" * 32)
    shredded = pseudonyms.envelope(envelope("org.sexto.legal.subject_shredded.v1", {
        "subject_key": f"student:{CASE}:stu-1", "reason": "erasure_request",
        "reference": "REQ-2026-17", "key_existed": True}))  # fmt: skip
    erased = pseudonyms.envelope(envelope("org.sexto.legal.case_erased.v1", {
        "reason": "retention_expired", "protocol": "sexto-qc",
        "subject_keys": [f"case:{CASE}", f"student:{CASE}:stu-1"]}))  # fmt: skip
    not_taken = pseudonyms.envelope(envelope("org.sexto.intake.action_not_taken.v1", {
        "action": "did not call Isolde's mother", "justification": {"sealed": "x"},
        "unknown_new_field": "free text"}))  # fmt: skip
    secured = pseudonyms.envelope(envelope("org.sexto.intake.device_secured.v2", {
        "owner_ref": "stu-1", "seal_number": "SB-0042", "measure": "switched_off"}))  # fmt: skip

    text = repr([shredded, erased, not_taken, secured])
    for secret in (CASE, "stu-1", "REQ-2026-17", "Isolde", "free text", "SB-0042", "admin-1"):
        assert secret not in text
    case_pseudonym = shredded["subject"]
    student = secured["data"]["owner_ref"]
    # the same case and student as everywhere else, so erasures still join
    assert shredded["data"]["subject_key"] == f"student:{case_pseudonym}:{student}"
    assert erased["data"]["subject_keys"] == [
        f"case:{case_pseudonym}",
        f"student:{case_pseudonym}:{student}",
    ]
    assert not_taken["data"]["action"] == withheld()
    assert not_taken["data"]["unknown_new_field"] == withheld()
    assert secured["data"]["measure"] == "switched_off"
    assert erased["data"]["protocol"] == "sexto-qc"


def test_recipient_keys_join_their_recipient_ref_and_hashes_are_dropped() -> None:
    pseudonyms = Pseudonymiser(b"k" * 32)
    registered = pseudonyms.envelope(envelope("org.sexto.notification.recipient_registered.v1", {
        "recipient_ref": "rcp-1", "kind": "parent", "student_ref": "stu-1",
        "email": {"$sealed": "A256GCM", "kid": f"recipient:{CASE}:rcp-1"}}) | {
        "hash": "ab" * 32, "prevhash": "cd" * 32})  # fmt: skip
    shredded = pseudonyms.envelope(envelope("org.sexto.legal.subject_shredded.v1", {
        "subject_key": f"recipient:{CASE}:rcp-1", "reason": "erasure_request",
        "key_existed": True}))  # fmt: skip

    recipient = registered["data"]["recipient_ref"]
    assert shredded["data"]["subject_key"] == f"recipient:{registered['subject']}:{recipient}"
    assert "rcp-1" not in repr([registered, shredded])
    # computed over the real ids, an event's hash would let a guessed id be tested
    assert "hash" not in registered
    assert "prevhash" not in registered
