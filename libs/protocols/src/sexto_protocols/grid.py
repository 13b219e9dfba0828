"""What a grid still lacks, by its protocol version's definition: pure.

A field is required when the version's file says `"required": true`. Version 1 files
flag none, so under them every grid is complete, as it was when those cases were graded:
a case keeps the version it was reported under, and its rules with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sexto_protocols import ProtocolVersion


def required_fields(protocol: ProtocolVersion) -> list[str]:
    """The ids of the fields the version requires, in the grid's order."""
    return [f["id"] for f in protocol.raw["grid"]["fields"] if f.get("required")]


def missing_fields(
    protocol: ProtocolVersion, answers: Mapping[str, Any], notes: Mapping[str, str] | None = None
) -> list[str]:
    """The required fields with no answer (a choice, a non-empty list, or words), in order.

    An empty list answers nothing: a multiple choice with nothing known is answered with
    its `unknown` value, so "we do not know" stays apart from "not asked yet".
    """
    given = {**(notes or {}), **answers}
    return [name for name in required_fields(protocol) if given.get(name) in (None, "", [])]


def prior_involvement_answer(protocol: ProtocolVersion) -> tuple[str, str] | None:
    """The field and value that answer "involved before" (recidivism), if the version says."""
    check = protocol.raw.get("checks", {}).get("prior_involvement")
    if not isinstance(check, dict):
        return None
    return str(check["field"]), str(check["value"])
