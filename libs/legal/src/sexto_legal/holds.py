"""Legal holds: placing and releasing one, and whether one stands on a case.

Holds are read from the stored events themselves (`read_stored`), not through a verified
load, so a hold can be placed on a case whose chain is broken: that is when it is most
needed.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.legal import HoldReason, LegalHoldPlaced, LegalHoldReleased
from sexto_events.commands import execute_on, no_state
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, NewEvent
from sexto_events.principal import Principal
from sexto_events.store import EventStore

from sexto_legal.stored_case import StoredCase, data_of, kind_of, read_stored

HOLD_PLACED = "legal.hold_placed"
HOLD_RELEASED = "legal.hold_released"


class HoldMismatch(EventLogError):
    """A release that does not name the standing hold's reason and reference."""


def standing_hold(raws: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The envelope of the hold in force (the last placed, not released since), or None."""
    standing = None
    for raw in raws:
        if kind_of(raw) == HOLD_PLACED:
            standing = raw
        elif kind_of(raw) == HOLD_RELEASED:
            standing = None
    return standing


def under_hold(raws: list[dict[str, Any]]) -> bool:
    """True when the last hold placed on the case has not been released."""
    return standing_hold(raws) is not None


def hold_change(
    found: StoredCase,
    principal: Principal,
    *,
    on: bool,
    reason: HoldReason,
    reference: str | None,
) -> list[NewEvent]:
    """The event placing or releasing the hold; none when the case is already in that state.

    A release must name the standing hold's reason and reference: releasing a hold is a
    decision about that hold (that court file, that inquiry), not a switch.
    """
    if not found.raws:
        raise EventLogError(f"case {found.case} has no events")
    standing = standing_hold(found.raws)
    if (standing is not None) == on:
        return []
    if standing is not None:
        held = data_of(standing)
        if (held.get("reason"), held.get("reference")) != (reason.value, reference):
            case_id = found.case.case_id
            raise HoldMismatch(
                f"the hold on case {case_id} (placed {standing.get('time')}) is not "
                f"for reason {reason.value} and reference {reference or '(none)'}: name "
                f"the hold you release with --reason and --reference (sexto history "
                f"{case_id} shows it)"
            )
    data: EventData = (
        LegalHoldPlaced(reason=reason, reference=reference)
        if on
        else LegalHoldReleased(reason=reason, reference=reference)
    )
    return [NewEvent(data, principal.actor, principal.role)]


async def set_legal_hold(
    store: EventStore,
    case: CaseRef,
    principal: Principal,
    *,
    on: bool,
    reason: HoldReason,
    reference: str | None,
) -> bool:
    """Place or release the hold (`hold_change`); False when the case was already so."""
    result = await execute_on(
        store,
        case,
        partial(read_stored, store),
        initial=None,
        evolve=no_state,
        decide=lambda _, found: hold_change(
            found, principal, on=on, reason=reason, reference=reference
        ),
    )
    return bool(result.event_ids)
