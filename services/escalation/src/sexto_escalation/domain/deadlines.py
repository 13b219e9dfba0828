"""The escalation's deadlines: which are breached at a given time, pure.

The police acknowledge within a time, and collect the kit within another, each set per
urgency; a breach is recorded once per step. A later assessment that changes the urgency
re-arms the deadlines: each step is due by the earliest deadline any of its urgencies set
(a raised urgency brings it forward; a lowered one never pushes back what police were
already told). Nothing is due on a closed case.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sexto_events.catalogue.escalation import EscalationOverdue
from sexto_protocols.lifecycle import Status

from sexto_escalation.domain.workflow import Escalation

# The queue statuses in which each step is still to be taken: where a watcher looks for
# cases that may be overdue (the decision itself is made on the case's events).
PENDING = {
    "acknowledge": (Status.REQUESTED.value,),
    "collect_kit": (Status.REQUESTED.value, Status.ACKNOWLEDGED.value),
}
WATCHED_STATUSES = sorted({status for statuses in PENDING.values() for status in statuses})


def pending_steps(state: Escalation) -> list[str]:
    """The steps with a deadline that are still to be taken."""
    if not state.requested or state.closed:
        return []
    pending = [] if state.acknowledged else ["acknowledge"]
    return pending if state.kit_collected else [*pending, "collect_kit"]


def breaches(
    state: Escalation, *, limits: Mapping[str, Mapping[str, float]], now: datetime
) -> list[EscalationOverdue]:
    """The breaches not yet recorded: steps still pending past their deadline.

    `limits` gives, per step, the seconds allowed per urgency.
    """
    found = []
    for step in pending_steps(state):
        deadline = min(
            (at + timedelta(seconds=limits[step][urgency]) for at, urgency in state.arms),
            default=None,
        )
        if deadline is not None and now > deadline and step not in state.overdue:
            found.append(EscalationOverdue(step=step, urgency=state.urgency, deadline=deadline))
    return found
