"""Thin handlers: scope check, load the case, run the workflow step, append."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.commands import Decided, already_recorded, execute
from sexto_events.db import column_names
from sexto_events.ids import derived_event_id
from sexto_events.messages import Message
from sexto_events.model import CaseRef, LoadedCase, NewEvent
from sexto_events.principal import SCHOOL_ROLES, CaseScope, Principal, can_see_case, visibility
from sexto_events.refusals import CaseNotFound
from sexto_protocols.lifecycle import Status
from sexto_service.runtime import ServiceRuntime

from sexto_escalation.domain.workflow import Escalation, evolve
from sexto_escalation.tables import escalations


async def escalated_case(runtime: ServiceRuntime, principal: Principal, case_id: str) -> CaseRef:
    """The case if it is escalated and the caller's role and territory may see it."""
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT e.territory, e.school_id, s.lifecycle->>'protocol' AS protocol "
            "FROM escalation.escalations e LEFT JOIN escalation.case_scope s USING (case_id) "
            "WHERE e.case_id = $1",
            case_id,
        )
    if row is None or not can_see_case(
        principal, CaseScope(row["school_id"], row["territory"], True, row["protocol"])
    ):
        raise CaseNotFound(Message("escalated-case-not-found"))
    return CaseRef(row["territory"], case_id)


async def case_in_scope(runtime: ServiceRuntime, principal: Principal, case_id: str) -> CaseRef:
    """A case of the caller's school, escalated or not, for school staff; an escalated case
    of its territory for police and the DPCP (escalated_case)."""
    if principal.role not in SCHOOL_ROLES:
        return await escalated_case(runtime, principal, case_id)
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT territory, school_id FROM escalation.case_scope WHERE case_id = $1", case_id
        )
    if row is None or not can_see_case(
        principal, CaseScope(row["school_id"], row["territory"], escalated=False)
    ):
        raise CaseNotFound(Message("case-not-found"))
    return CaseRef(row["territory"], case_id)


async def take_step(
    runtime: ServiceRuntime,
    principal: Principal,
    case_id: str,
    step: Callable[[Escalation], EventData],
    key: str | None = None,
    *,
    any_case: bool = False,
) -> tuple[str, int]:
    """Run one workflow step against the case's current state; returns (event id, version).

    The route has checked the caller's role; the case must be in its scope. With an
    Idempotency-Key the step's id derives from (case, caller, key): a retry whose first
    answer was lost (the append stored, its acknowledgement not received) finds its step on
    the record and records nothing again. With `any_case`, school staff act on any case of
    their school (a step that needs no escalation: support offered to a victim).
    """
    finder = case_in_scope if any_case else escalated_case
    case = await finder(runtime, principal, case_id)

    def decide(state: Escalation, loaded: LoadedCase) -> Decided:
        event_id = None
        if key is not None and loaded.events:
            event_id = derived_event_id(loaded.events[0].id, f"step|{principal.actor}|{key}")
            done = already_recorded(loaded, event_id)
            if done is not None:
                return done
        return [NewEvent(step(state), principal.actor, principal.role.value, event_id=event_id)]

    result = await execute(runtime.store, case, initial=Escalation(), evolve=evolve, decide=decide)
    return result.event_ids[0], result.version.seq


async def queue(
    runtime: ServiceRuntime, principal: Principal, status: str | None, urgency: str | None
) -> list[dict[str, Any]]:
    """The territory's escalations, most urgent and oldest first; closed cases only when
    asked for by status (they leave the active queue)."""
    seen = visibility(principal)
    if seen is None:
        return []
    # The queue holds escalated cases only.
    clauses, scope_args = seen.sql(
        escalated=None,
        protocol="(SELECT s.lifecycle->>'protocol' FROM escalation.case_scope s "
        "WHERE s.case_id = escalations.case_id)",
    )
    args: list[Any] = list(scope_args)
    if status:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    else:
        args.append(Status.CLOSED.value)
        clauses.append(f"status <> ${len(args)}")
    if urgency:
        args.append(urgency)
        clauses.append(f"urgency = ${len(args)}")
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {column_names(escalations)} FROM escalation.escalations "
            f"WHERE {' AND '.join(clauses) or 'TRUE'} "
            "ORDER BY CASE urgency WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, "
            "requested_at",
            *args,
        )
    return [dict(r) for r in rows]
