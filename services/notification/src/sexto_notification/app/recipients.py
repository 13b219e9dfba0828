"""Who is told by e-mail on a case (recipients), and the case's notification record."""

from __future__ import annotations

from typing import Any

from sexto_events.catalogue.notification import RecipientRegistered
from sexto_events.commands import Decided, already_recorded, execute
from sexto_events.db import column_names
from sexto_events.messages import Message
from sexto_events.model import CaseRef, LoadedCase, NewEvent
from sexto_events.principal import CaseScope, Principal, can_see_case
from sexto_events.recording import record_read
from sexto_events.refusals import NotFound
from sexto_service.runtime import ServiceRuntime

from sexto_notification.domain.recipients import (
    CaseRecipients,
    check_recipient_form,
    decide_recipient,
    evolve,
    repeat_of,
)
from sexto_notification.tables import outcomes


async def _case_row(runtime: ServiceRuntime, principal: Principal, case_id: str) -> Any:
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT territory, school_id, escalated, protocol FROM notification.cases "
            "WHERE case_id = $1",
            case_id,
        )
    if row is None or not can_see_case(
        principal, CaseScope(row["school_id"], row["territory"], row["escalated"], row["protocol"])
    ):
        raise NotFound(Message("case-not-found-yet"))
    return row


async def register_recipient(
    runtime: ServiceRuntime, principal: Principal, case_id: str, data: RecipientRegistered
) -> tuple[str, int]:
    """Put a recipient (address sealed) on the case; parents are sent the information
    documents, staff the step updates from now on."""
    row = await _case_row(runtime, principal, case_id)
    check_recipient_form(data)
    case = CaseRef(row["territory"], case_id)

    def decide(state: CaseRecipients, loaded: LoadedCase) -> Decided:
        earlier = repeat_of(state, data)
        if earlier is not None:  # a repeated request: answer as the first time
            return already_recorded(loaded, earlier) or []
        return [NewEvent(decide_recipient(state, data), principal.actor, principal.role.value)]

    result = await execute(
        runtime.store, case, initial=CaseRecipients(), evolve=evolve, decide=decide
    )
    return result.event_ids[0], result.version.seq


async def case_notifications(
    runtime: ServiceRuntime, principal: Principal, case_id: str
) -> list[dict[str, Any]]:
    """Every delivery attempt on the case's record; the read itself goes on the record."""
    row = await _case_row(runtime, principal, case_id)
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {column_names(outcomes)} FROM notification.outcomes "
            "WHERE case_id = $1 ORDER BY at, attempt",
            case_id,
        )
    await record_read(
        runtime.store,
        principal,
        CaseRef(row["territory"], case_id),
        "notifications",
        "notification",
    )
    return [dict(r) for r in rows]
