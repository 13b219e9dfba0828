"""The students' reported ages against the grid's age answers: pure.

The protocol version's file says what a significant age gap is (`checks.age_gap`: so many
years or more between two students of the case, or a minor and an adult) and which band
an age falls in (`checks.age_band`). A version without these checks derives nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sexto_protocols import ProtocolVersion


def _check(protocol: ProtocolVersion, name: str) -> dict[str, Any] | None:
    check = protocol.raw.get("checks", {}).get(name)
    return check if isinstance(check, dict) else None


def age_gap_field(protocol: ProtocolVersion) -> str | None:
    """The grid field that answers the age-gap factor, if the version checks it."""
    check = _check(protocol, "age_gap")
    return str(check["field"]) if check else None


def age_band_field(protocol: ProtocolVersion) -> str | None:
    """The grid field that answers the student's age band, if the version checks it."""
    check = _check(protocol, "age_band")
    return str(check["field"]) if check else None


def significant_gap(protocol: ProtocolVersion, one: int, other: int) -> bool:
    """Whether two ages are a significant gap under the version's definition."""
    check = _check(protocol, "age_gap")
    if check is None:
        return False
    adult = int(check["adult_age"])
    return abs(one - other) >= int(check["min_years"]) or (
        min(one, other) < adult <= max(one, other)
    )


def derived_age_gap(
    protocol: ProtocolVersion, student_ref: str, ages: Mapping[str, int | None]
) -> str | None:
    """`yes` or `no` for the age-gap factor of one student, from the case's reported ages.

    `yes` as soon as one other student's age makes a significant gap; `no` only when the
    student's and every other student's ages are known; None when the ages cannot tell
    (or the version does not define the check).
    """
    if _check(protocol, "age_gap") is None:
        return None
    own = ages.get(student_ref)
    others = [age for ref, age in ages.items() if ref != student_ref]
    if own is None or not others:
        return None
    if any(age is not None and significant_gap(protocol, own, age) for age in others):
        return "yes"
    return "no" if all(age is not None for age in others) else None


def band_of(protocol: ProtocolVersion, age: int | None) -> str | None:
    """The grid's age band for a reported age, if the version defines bands."""
    check = _check(protocol, "age_band")
    if check is None or age is None:
        return None
    for band in check["bands"]:
        if int(band.get("min", 0)) <= age <= int(band.get("max", 200)):
            return str(band["value"])
    return None
