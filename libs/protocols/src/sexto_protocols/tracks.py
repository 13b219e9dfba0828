"""Each student's track, from their roles (DOMAIN.md, "Each student's track"): pure.

- offender — produced, sent, redistributed (or, on the grid, asked for the image or
  coerced someone): a preliminary indication, a prosecutor's decision, then the meeting or
  the investigation;
- victim — depicted, and no offending role: never an offender indication nor a decision
  about them; met, offered victim support and image-removal help;
- witness — received or saw only: recorded, informed, no decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Track(StrEnum):
    """What the protocol does with a student."""

    OFFENDER = "offender"
    VICTIM = "victim"
    WITNESS = "witness"


OFFENDING_ROLES = frozenset({"producer", "sender", "redistributor"})
# The grid's `involvement` answers that make a student an offender whatever their roles.
OFFENDING_INVOLVEMENT = frozenset(
    {"produced", "sent", "redistributed", "asked_for_it", "coerced_someone"}
)
VICTIM_ROLES = frozenset({"depicted"})


def track_of(roles: Iterable[str], involvement: Iterable[str] = ()) -> Track:
    """The track of a student with these roles (and, once graded, these involvement answers)."""
    held = set(roles)
    if held & OFFENDING_ROLES or set(involvement) & OFFENDING_INVOLVEMENT:
        return Track.OFFENDER
    if held & VICTIM_ROLES:
        return Track.VICTIM
    return Track.WITNESS


def expects_decision(roles: Iterable[str], involvement: Iterable[str] = ()) -> bool:
    """Whether the prosecutor decides about this student (offenders only)."""
    return track_of(roles, involvement) is Track.OFFENDER
