"""Partners' webhook subscriptions: made, listed, deleted, their secret rotated."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats.errors
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.messages import Message
from sexto_events.principal import Principal, Role
from sexto_events.refusals import Conflict, Forbidden, Invalid, NotFound, Unavailable
from sexto_service.runtime import ServiceRuntime

from sexto_notification.app.secrets import SecretBox, check_secret, new_secret
from sexto_notification.app.urls import RefusedAddress, check_destination, check_form
from sexto_notification.config import NotificationSettings
from sexto_notification.domain.policy import normalise_types
from sexto_notification.projections.dispatch import SUBSCRIPTIONS_LOCK

SUBSCRIBERS = frozenset({Role.ADMIN, Role.POLICE_DISPATCH, Role.SCHOOL_ADMIN})
# The most live subscriptions one caller may hold (each is a sender's label set in /metrics
# and a row matched against every event).
MAX_SUBSCRIPTIONS_PER_CALLER = 50


def subscription_id(caller: str, key: str | None) -> str:
    """A new subscription's id: fixed by (caller, Idempotency-Key) when a key is given, so a
    retry after an answer lost (a 503 after the commit) finds the subscription it made."""
    if key is None:
        return f"sub_{uuid.uuid4().hex}"
    return f"sub_{hashlib.sha256(f'{caller}|{key}'.encode()).hexdigest()[:32]}"


def scoped_filter(
    principal: Principal, territory: str | None, school_id: str | None
) -> tuple[str | None, str | None]:
    """The filter's territory and school, held to the caller's scope (a subscriber's role)."""
    if principal.role is Role.POLICE_DISPATCH:
        if principal.territory is None:
            raise Forbidden(Message("token-no-territory"))
        if territory not in (None, principal.territory):
            raise Forbidden(Message("own-territory-only", territory=principal.territory))
        return principal.territory, school_id
    if principal.role is Role.SCHOOL_ADMIN:
        if principal.school_id is None:
            raise Forbidden(Message("token-no-school"))
        if school_id not in (None, principal.school_id):
            raise Forbidden(Message("own-school-only", school=principal.school_id))
        return territory, principal.school_id
    return territory, school_id


# What a subscription's owner is shown (never its secrets' plaintext) and what checks use.
_SUBSCRIPTION_COLUMNS = (
    "id, url, types, territory, school_id, created_at, previous_until, owner_subject"
)


def _said(exc: ValueError) -> Message | str:
    """What a refused value's check said: a catalogue text when it has one."""
    said = exc.args[0] if exc.args else ""
    return said if isinstance(said, Message) else str(exc)


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "types": sorted(row["types"]),
        "territory": row["territory"],
        "school_id": row["school_id"],
        "created_at": row["created_at"],
        "previous_secret_valid_until": row["previous_until"],
    }


async def _last_seq(runtime: ServiceRuntime) -> int:
    try:
        reply = await runtime.nc.request(f"$JS.API.STREAM.INFO.{runtime.store.spec.name}", b"", 5)
        return int(json.loads(reply.data)["state"]["last_seq"])
    except (TimeoutError, KeyError, ValueError, nats.errors.Error):
        raise Unavailable(Message("log-unavailable")) from None


async def replayed_subscription(
    runtime: ServiceRuntime, principal: Principal, kept: dict[str, Any]
) -> dict[str, Any]:
    """The first answer to a repeated subscription request, with its secret — unless the
    subscription was deleted, or its secret rotated since (never shown again)."""
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM notification.subscriptions WHERE id = $1 AND owner_subject = $2",
            kept["id"], principal.actor,
        )  # fmt: skip
    return kept | {"secret": _secret_again(runtime, row)}


def _secret_again(runtime: ServiceRuntime, row: Any) -> str:
    """The secret a subscription was made with, for a repeat of the request that made it."""
    if row is None or row["deleted_at"] is not None:
        raise Conflict(Message("subscription-deleted"))
    if row["previous_until"] is not None:
        raise Conflict(Message("subscription-rotated", subscription=row["id"]))
    box = SecretBox(runtime.settings.master_key_bytes())
    return box.open(row["id"], row["secret"])


async def create_subscription(
    runtime: ServiceRuntime,
    settings: NotificationSettings,
    principal: Principal,
    body: dict[str, Any],
    key: str | None = None,
) -> dict[str, Any]:
    """Record a subscription; the secret is returned now (and to a retry with the same
    Idempotency-Key, until it is rotated), never again. With a key the id derives from
    (caller, key): a retry whose first answer was lost finds the subscription it made."""
    territory, school_id = scoped_filter(principal, body.get("territory"), body.get("school_id"))
    try:
        types = normalise_types(body["types"], (t.subject_suffix() for t in CATALOGUE.types()))
    except ValueError as exc:
        raise Invalid(Message("field-refused", field="types", reason=_said(exc))) from None
    try:
        url = check_form(body["url"], settings.allow_insecure_urls)
        await check_destination(url, settings.allow_insecure_urls)
    except RefusedAddress as exc:
        raise Invalid(Message("address-refused", reason=_said(exc))) from None
    try:
        secret = check_secret(body["secret"]) if body.get("secret") else new_secret()
    except ValueError as exc:
        raise Invalid(Message("field-refused", field="secret", reason=_said(exc))) from None
    sub_id = subscription_id(principal.actor, key)
    box = SecretBox(runtime.settings.master_key_bytes())
    async with runtime.pool.acquire() as conn, conn.transaction():
        # Exclusive against the dispatcher's matching (shared): every event it has matched
        # without this subscription is at or below the log's end read here, and every later
        # event is matched with it.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SUBSCRIPTIONS_LOCK)
        made = await conn.fetchrow("SELECT * FROM notification.subscriptions WHERE id = $1", sub_id)
        if made is not None:  # this key's first try made it; its answer was lost
            return _public(made) | {"secret": _secret_again(runtime, made)}
        held = await conn.fetchval(
            "SELECT count(*) FROM notification.subscriptions "
            "WHERE owner_subject = $1 AND deleted_at IS NULL",
            principal.actor,
        )
        if held >= MAX_SUBSCRIPTIONS_PER_CALLER:
            raise Conflict(Message("subscription-limit", limit=MAX_SUBSCRIPTIONS_PER_CALLER))
        from_seq = await _last_seq(runtime)
        row = await conn.fetchrow(
            "INSERT INTO notification.subscriptions (id, url, types, territory, school_id, "
            "secret, owner_subject, owner_role, from_seq) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING "
            "RETURNING *",
            sub_id, url, sorted(types), territory, school_id, box.seal(sub_id, secret),
            principal.actor, principal.role.value, from_seq,
        )  # fmt: skip
        if row is None:  # made by a try of the same key (the lock above makes this rare)
            made = await conn.fetchrow(
                "SELECT * FROM notification.subscriptions WHERE id = $1", sub_id
            )
            return _public(made) | {"secret": _secret_again(runtime, made)}
    return _public(row) | {"secret": secret}


async def _owned(runtime: ServiceRuntime, principal: Principal, sub_id: str) -> Any:
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM notification.subscriptions "
            "WHERE id = $1 AND deleted_at IS NULL",
            sub_id,
        )
    if row is None or not (principal.role is Role.ADMIN or row["owner_subject"] == principal.actor):
        raise NotFound(Message("subscription-not-found"))
    return row


async def list_subscriptions(runtime: ServiceRuntime, principal: Principal) -> list[dict[str, Any]]:
    """The caller's subscriptions (all of them for an admin); secrets never shown."""
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM notification.subscriptions "
            "WHERE deleted_at IS NULL AND ($1 OR owner_subject = $2) ORDER BY created_at",
            principal.role is Role.ADMIN,
            principal.actor,
        )
    return [_public(r) for r in rows]


async def get_subscription(
    runtime: ServiceRuntime, principal: Principal, sub_id: str
) -> dict[str, Any]:
    """One subscription of the caller's."""
    return _public(await _owned(runtime, principal, sub_id))


async def delete_subscription(runtime: ServiceRuntime, principal: Principal, sub_id: str) -> None:
    """Stop sending; deliveries not yet made are cancelled."""
    await _owned(runtime, principal, sub_id)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE notification.subscriptions SET deleted_at = now() WHERE id = $1", sub_id
        )
        await conn.execute(
            "UPDATE notification.deliveries SET status = 'cancelled' "
            "WHERE channel = 'webhook' AND target = $1 AND status IN ('pending', 'failed')",
            sub_id,
        )


async def rotate_secret(
    runtime: ServiceRuntime,
    settings: NotificationSettings,
    principal: Principal,
    sub_id: str,
    secret: str | None,
    overlap_s: float | None,
) -> dict[str, Any]:
    """A new secret; the old one keeps signing beside it for the overlap."""
    await _owned(runtime, principal, sub_id)
    try:
        fresh = check_secret(secret) if secret else new_secret()
    except ValueError as exc:
        raise Invalid(Message("field-refused", field="secret", reason=_said(exc))) from None
    overlap = settings.secret_overlap_s if overlap_s is None else overlap_s
    until = datetime.now(UTC) + timedelta(seconds=overlap)
    box = SecretBox(runtime.settings.master_key_bytes())
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "UPDATE notification.subscriptions SET previous_secret = secret, "
            "previous_until = $3, secret = $2 WHERE id = $1 "
            f"RETURNING {_SUBSCRIPTION_COLUMNS}",
            sub_id,
            box.seal(sub_id, fresh),
            until,
        )
    if row is None:
        raise NotFound(Message("subscription-not-found"))
    return _public(row) | {"secret": fresh}
