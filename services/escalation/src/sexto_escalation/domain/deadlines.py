"""The escalation's deadlines: which are breached at a given time, pure.

The police acknowledge within a time, and collect the kit within another, each set per
urgency; a breach is recorded once per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sexto_events.catalogue.escalation import EscalationOverdue

from sexto_escalation.domain.workflow import Escalation

# The queue statuses in which each step is still to be taken: where a watcher looks for
# cases that may be overdue (the decision itself is made on the case's events).
PENDING = {"acknowledge": ("requested",), "collect_kit": ("requested", "acknowledged")}
WATCHED_STATUSES = sorted({status for statuses in PENDING.values() for status in statuses})


def pending_steps(state: Escalation) -> list[str]:
    """The steps with a deadline that are still to be taken."""
    if not state.requested:
        return []
    pending = [] if state.acknowledged else ["acknowledge"]
    return pending if state.kit_collected else [*pending, "collect_kit"]


def breaches(
    state: Escalation, *, limits: Mapping[str, Mapping[str, float]], now: datetime
) -> list[EscalationOverdue]:
    """The breaches not yet recorded: steps still pending past their deadline.

    `limits` gives, per step, the seconds allowed per urgency.
    """
    if state.requested_at is None:
        return []
    found = []
    for step in pending_steps(state):
        deadline = state.requested_at + timedelta(seconds=limits[step][state.urgency])
        if now > deadline and step not in state.overdue:
            found.append(EscalationOverdue(step=step, urgency=state.urgency, deadline=deadline))
    return found
