"""A device recorded late: custody starts when it was secured, which cannot be to come."""

from __future__ import annotations

from datetime import datetime

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import DeviceSecured
from sexto_events.messages import Message

from sexto_intake.domain.cases import CLOCK_SKEW
from sexto_intake.domain.errors import InvalidCommand


def check_secured_in_past(fact: EventData, now: datetime) -> None:
    """Refuses a device said to be secured later than now (beyond the clock skew)."""
    late = fact.late if isinstance(fact, DeviceSecured) else None
    if late is not None and late.secured_at > now + CLOCK_SKEW:
        raise InvalidCommand(Message("device-secured-in-future", at=late.secured_at.isoformat()))
