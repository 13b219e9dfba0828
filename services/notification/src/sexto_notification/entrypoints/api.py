"""REST: subscriptions, deliveries, recipients and each case's notification record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sexto_events.catalogue.notification import RecipientRegistered
from sexto_events.disclosure import disclose
from sexto_events.messages import Message
from sexto_events.principal import SCHOOL_ROLES, Principal, Role
from sexto_events.refusals import Conflict, Forbidden
from sexto_service.disclosure import viewer
from sexto_service.idempotency import IdempotencyKey, IdempotentRoute, Replay, replayed_with
from sexto_service.roles import CASE_READERS, Allowed
from sexto_service.runtime import ServiceRuntime

from sexto_notification.app import deliveries as delivery_handlers
from sexto_notification.app import recipients as recipient_handlers
from sexto_notification.app import subscriptions as subscription_handlers
from sexto_notification.config import NotificationSettings
from sexto_notification.entrypoints.schemas import (
    DeliveryOut,
    NotificationOut,
    RecipientIn,
    Recorded,
    RotateIn,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionWithSecret,
)
from sexto_notification.reactors.sender import forget_subscription

router = APIRouter(prefix="/v1", tags=["notification"], route_class=IdempotentRoute)

Subscriber = Annotated[
    Principal, Depends(Allowed(subscription_handlers.SUBSCRIBERS, refusal="subscribers-only"))
]
DeliveryOwner = Annotated[
    Principal, Depends(Allowed(subscription_handlers.SUBSCRIBERS, refusal="delivery-owners"))
]
Staff = Annotated[Principal, Depends(Allowed(SCHOOL_ROLES, refusal="school-staff-recipients"))]
Reader = Annotated[Principal, Depends(CASE_READERS)]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _settings(request: Request) -> NotificationSettings:
    settings: NotificationSettings = request.app.state.notification
    return settings


def _shown(
    request: Request,
    principal: Principal,
    model: type[BaseModel],
    answer: Mapping[str, Any],
    case_id: str = "",
) -> dict[str, Any]:
    """One answer as the disclosure policy shows it to the caller's role."""
    plain = model.model_validate(answer).model_dump(mode="json")
    return disclose(viewer(request, principal), model, plain, case_id)


def _without_secret(answer: Any) -> Any:
    # The secret is never kept in the idempotency record: a retry reads it sealed.
    return {k: v for k, v in answer.items() if k != "secret"}


async def _with_secret(request: Request, kept: Any) -> Any:
    principal = request.state.principal
    return await subscription_handlers.replayed_subscription(_runtime(request), principal, kept)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionWithSecret)
@replayed_with(Replay(keep=_without_secret, give=_with_secret))
async def subscribe(
    body: SubscriptionIn,
    request: Request,
    principal: Subscriber,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Subscribe a webhook. Police dispatch subscribes within its own territory and receives
    escalated cases only. Repeat with the same `Idempotency-Key` to get the same answer (with
    the secret, until it is rotated or the subscription deleted). At most 50 live
    subscriptions per caller (a 409 beyond)."""
    return await subscription_handlers.create_subscription(
        _runtime(request), _settings(request), principal, body.model_dump(), idempotency_key
    )


@router.get("/subscriptions", response_model=list[SubscriptionOut])
async def subscriptions(request: Request, principal: Subscriber) -> Any:
    """Your subscriptions (secrets are never shown again)."""
    found = await subscription_handlers.list_subscriptions(_runtime(request), principal)
    return [_shown(request, principal, SubscriptionOut, s) for s in found]


@router.get("/subscriptions/{sub_id}", response_model=SubscriptionOut)
async def subscription(sub_id: str, request: Request, principal: Subscriber) -> Any:
    """One of your subscriptions."""
    found = await subscription_handlers.get_subscription(_runtime(request), principal, sub_id)
    return _shown(request, principal, SubscriptionOut, found)


@router.delete("/subscriptions/{sub_id}", status_code=204)
async def unsubscribe(sub_id: str, request: Request, principal: Subscriber) -> Response:
    """Stop the webhook; deliveries not yet made are cancelled."""
    await subscription_handlers.delete_subscription(_runtime(request), principal, sub_id)
    forget_subscription(sub_id)
    return Response(status_code=204)


async def _rotation_replayed(request: Request, kept: Any) -> Any:
    raise Conflict(Message("secret-rotation-replayed", subscription=kept.get("id", "")))


@router.post("/subscriptions/{sub_id}/secret", response_model=SubscriptionWithSecret)
@replayed_with(Replay(keep=_without_secret, give=_rotation_replayed))
async def rotate(sub_id: str, body: RotateIn, request: Request, principal: Subscriber) -> Any:
    """Rotate the signing secret; both sign during the overlap (two `v1,` signatures)."""
    return await subscription_handlers.rotate_secret(
        _runtime(request), _settings(request), principal, sub_id, body.secret, body.overlap_seconds
    )


@router.get("/deliveries", response_model=list[DeliveryOut])
async def deliveries(
    request: Request,
    principal: DeliveryOwner,
    status: Literal["pending", "sent", "failed", "cancelled"] | None = None,
    subscription: Annotated[str | None, Query(max_length=64)] = None,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Deliveries of your subscriptions, newest first; `status=failed` for those given up.
    An admin (every subscription's deliveries, no case) may not select them by case."""
    if case_id is not None and principal.role is Role.ADMIN:
        raise Forbidden(Message("admin-no-case-filter"))
    found = await delivery_handlers.list_deliveries(
        _runtime(request), principal, status, subscription, case_id, limit
    )
    return [_shown(request, principal, DeliveryOut, d, d["case_id"]) for d in found]


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryOut)
async def retry(delivery_id: str, request: Request, principal: DeliveryOwner) -> Any:
    """Send a failed delivery again (same webhook-id); deliveries it held then follow."""
    moved = await delivery_handlers.retry_delivery(_runtime(request), principal, delivery_id)
    return _shown(request, principal, DeliveryOut, moved, moved["case_id"])


@router.post("/deliveries/{delivery_id}/cancel", response_model=DeliveryOut)
async def cancel(delivery_id: str, request: Request, principal: DeliveryOwner) -> Any:
    """Give up a delivery (e.g. one your receiver can never accept); those behind it go on."""
    moved = await delivery_handlers.cancel_delivery(_runtime(request), principal, delivery_id)
    return _shown(request, principal, DeliveryOut, moved, moved["case_id"])


@router.post("/cases/{case_id}/recipients", status_code=201, response_model=Recorded)
async def register_recipient(
    case_id: str, body: RecipientIn, request: Request, principal: Staff
) -> Recorded:
    """Register a parent (sent the protocol's information documents at once) or a staff
    member (sent each step from now on). The address is sealed and erasable. Repeating the
    same registration answers with the first; other details under the same ref are a 409."""
    data = RecipientRegistered(**body.model_dump())
    event_id, version = await recipient_handlers.register_recipient(
        _runtime(request), principal, case_id, data
    )
    return Recorded(id=event_id, version=version)


@router.get("/cases/{case_id}/notifications", response_model=list[NotificationOut])
async def notifications(case_id: str, request: Request, principal: Reader) -> Any:
    """Who was told what, when, by which channel and template version; sent or failed."""
    found = await recipient_handlers.case_notifications(_runtime(request), principal, case_id)
    return [_shown(request, principal, NotificationOut, n, case_id) for n in found]
