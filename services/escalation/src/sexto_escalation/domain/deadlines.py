"""The escalation's deadlines: which are breached at a given time, pure.

The police acknowledge within a time, and collect the kit within another, each set per
urgency; a breach is recorded once per step.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from sexto_events.catalogue.escalation import EscalationOverdue

# The queue statuses in which each step is still to be taken.
PENDING = {"acknowledge": ("requested",), "collect_kit": ("requested", "acknowledged")}


def breaches(
    *,
    status: str,
    urgency: str,
    requested_at: datetime,
    recorded: Collection[str],
    limits: Mapping[str, Mapping[str, float]],
    now: datetime,
) -> list[EscalationOverdue]:
    """The breaches not yet recorded: steps still pending past their deadline.

    `limits` gives, per step, the seconds allowed per urgency; `recorded` the steps
    whose breach is on the record already.
    """
    found = []
    for step, within in limits.items():
        deadline = requested_at + timedelta(seconds=within[urgency])
        if status in PENDING[step] and now > deadline and step not in recorded:
            found.append(EscalationOverdue(step=step, urgency=urgency, deadline=deadline))
    return found
