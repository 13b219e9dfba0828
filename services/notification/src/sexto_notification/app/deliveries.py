"""The delivery outbox as its owners see it: listed, a failed one retried, one cancelled."""

from __future__ import annotations

from typing import Any

from sexto_events.messages import Message
from sexto_events.principal import Principal, Role
from sexto_events.refusals import Conflict, NotFound
from sexto_service.runtime import ServiceRuntime

from sexto_notification.domain.policy import CANCEL, RETRY, Move
from sexto_notification.projections.dispatch import WAKE_CHANNEL

_DELIVERY_COLUMNS = (
    "id, channel, target, recipient_kind, case_id, event_id, event_type, template, status, "
    "attempts, next_attempt_at, last_error, created_at, sent_at"
)


async def list_deliveries(
    runtime: ServiceRuntime,
    principal: Principal,
    status: str | None,
    subscription: str | None,
    case_id: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Deliveries of the caller's subscriptions (every delivery for an admin)."""
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM notification.deliveries d "
            "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR target = $2) "
            "AND ($3::text IS NULL OR case_id = $3) AND ($4 OR (channel = 'webhook' AND "
            "target IN (SELECT id FROM notification.subscriptions WHERE owner_subject = $5))) "
            "ORDER BY created_at DESC, id LIMIT $6",
            status,
            subscription,
            case_id,
            principal.role is Role.ADMIN,
            principal.actor,
            limit,
        )
    return [dict(r) for r in rows]


async def _owned_delivery(runtime: ServiceRuntime, principal: Principal, delivery_id: str) -> None:
    async with runtime.pool.acquire() as conn:
        mine = await conn.fetchval(
            "SELECT 1 FROM notification.deliveries d WHERE id = $1 AND ($2 OR ("
            "channel = 'webhook' AND target IN ("
            "SELECT id FROM notification.subscriptions WHERE owner_subject = $3)))",
            delivery_id,
            principal.role is Role.ADMIN,
            principal.actor,
        )
    if mine is None:
        raise NotFound(Message("delivery-not-found"))


async def _move(
    runtime: ServiceRuntime, principal: Principal, delivery_id: str, move: Move, verb: str
) -> dict[str, Any]:
    """Move a delivery that is in one of the move's statuses and not being attempted now."""
    await _owned_delivery(runtime, principal, delivery_id)
    allowed = [status.value for status in move.allowed_from]
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "UPDATE notification.deliveries SET status = $2, next_attempt_at = now(), "
            "leased_until = NULL, lease_token = NULL WHERE id = $1 AND status = ANY($3) "
            "AND (leased_until IS NULL OR leased_until < now()) "
            f"RETURNING {_DELIVERY_COLUMNS}",
            delivery_id,
            move.to.value,
            allowed,
        )
        if row is None:
            current = await conn.fetchrow(
                "SELECT status, leased_until > now() AS busy FROM notification.deliveries "
                "WHERE id = $1",
                delivery_id,
            )
            if current is not None and current["busy"]:
                raise Conflict(Message("delivery-busy", verb=verb))
            state = current["status"] if current else "gone"
            raise Conflict(
                Message("delivery-state", allowed=" or ".join(allowed), verb=verb, state=state)
            )
        # Retried, it may go now; cancelled, the next of its recipient and case may.
        await conn.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, delivery_id)
    return dict(row)


async def retry_delivery(
    runtime: ServiceRuntime, principal: Principal, delivery_id: str
) -> dict[str, Any]:
    """A failed delivery goes again (one more attempt, same id); what it held follows."""
    return await _move(runtime, principal, delivery_id, RETRY, "retried")


async def cancel_delivery(
    runtime: ServiceRuntime, principal: Principal, delivery_id: str
) -> dict[str, Any]:
    """Give up a pending or failed delivery: what it held behind it goes on."""
    return await _move(runtime, principal, delivery_id, CANCEL, "cancelled")
