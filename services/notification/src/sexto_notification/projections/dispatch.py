"""Turns events on cases into deliveries: webhooks to matching subscriptions, e-mail to the
parents and staff registered on the case; and keeps each delivery's state from the record.

Deliveries are rows written in the same transaction as the consumer's checkpoint, so each
event yields its deliveries exactly once. A delivery's id derives from (event, channel,
recipient): a rebuild finds the same ids and queues nothing again.
"""

from __future__ import annotations

import json
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import EscalationRequested
from sexto_events.catalogue.intake import CaseReported
from sexto_events.catalogue.notification import (
    Channel,
    DeliveryAttempted,
    RecipientKind,
    RecipientRegistered,
)
from sexto_events.consumer import ReadModel
from sexto_events.db import DbConnection
from sexto_events.disclosure import Viewer
from sexto_events.envelope import disclose_event
from sexto_events.ids import derived_event_id
from sexto_events.model import RecordedEvent
from sexto_events.principal import Role

from sexto_notification.domain.policy import (
    STAFF_STEPS,
    DeliveryStatus,
    EventFilter,
    email_language,
    status_after,
    subscriber_may_receive,
)
from sexto_notification.tables import DISPATCH
from sexto_notification.templates import template_name

WAKE_CHANNEL = "sexto_notification_due"
"""Announces a delivery that may be due now: its id as payload (empty: look for any)."""
# Advisory lock between matching events to subscriptions (shared, in the consumer's
# transaction) and making a subscription (exclusive): see create_subscription.
SUBSCRIPTIONS_LOCK = 0x5E7_0001
WEBHOOK_TEMPLATE = "cloudevents-json/v1"

_STAFF = (RecipientKind.INTERVENER.value, RecipientKind.SAFEGUARDING_LEAD.value)


def delivery_id(event_id: str, channel: Channel, target: str) -> str:
    """The delivery's id (and webhook-id): fixed by the event, the channel and the recipient."""
    return derived_event_id(event_id, f"deliver|{channel.value}|{target}")


def webhook_body(event: RecordedEvent, owner_role: Role) -> str:
    """What a subscriber receives: the CloudEvent as the disclosure policy shows it to the
    subscription owner's role (sexto_events.disclosure; `{"withheld": true}` for the rest).

    The data arrive opened here, so the policy alone decides what leaves: no subscriber's
    role is shown names, contact details or free text. The `hash` names the event on the
    record (it covers the stored, sealed form); the `type` is the one of the data as read.
    """
    data = event.data
    raw = event.envelope.model_dump(mode="json", exclude_none=True)
    raw.pop("prevhash", None)
    raw["type"] = type(data).type_name()
    raw["data"] = data.model_dump(mode="json")
    # No subscriber's role is shown a pseudonym (analysts do not subscribe): without a key,
    # a pseudonymised class reads withheld.
    body = disclose_event(Viewer(owner_role), raw, type(data))
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _suffix(data: EventData) -> str:
    return data.subject_suffix()


class Dispatcher(ReadModel):
    """Applies case events to the notification schema and queues deliveries."""

    name = "dispatch"
    # Subscriptions are partners' configuration, not derived from the log; deliveries are
    # the outbox (what is still to send): both are migrated tables, kept by a rebuild.
    # Replaying re-queues nothing, as delivery ids derive from the events; were the outbox
    # lost, the outcome events replayed here mark again what was sent.
    tables = DISPATCH

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        case_id = event.envelope.subject
        if isinstance(data, CaseReported):
            await conn.execute(
                "INSERT INTO notification.cases (case_id, territory, school_id, protocol, "
                "protocol_version) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                case_id,
                event.envelope.territory,
                data.school_id,
                data.protocol.value,
                event.envelope.protocolversion,
            )
        elif isinstance(data, EscalationRequested):
            await conn.execute(
                "UPDATE notification.cases SET escalated = true WHERE case_id = $1", case_id
            )
        elif isinstance(data, DeliveryAttempted):
            await self._attempted(event, data, conn)
            return
        elif isinstance(data, RecipientRegistered):
            await self._registered(event, data, conn)
            return
        # The case, and the subscriptions lock taken in the same round trip: the statement
        # that reads the subscriptions comes after it, so it sees each one made before.
        case = await conn.fetchrow(
            "SELECT school_id, protocol, protocol_version, escalated, "
            "pg_advisory_xact_lock_shared($2) AS locked FROM notification.cases "
            "WHERE case_id = $1",
            case_id,
            SUBSCRIPTIONS_LOCK,
        )
        if case is None:
            return  # not a case this service knows (no report on the record)
        await self._webhooks(event, case, conn)
        if _suffix(data) in STAFF_STEPS:
            staff = await conn.fetch(
                "SELECT recipient_ref, kind, language FROM notification.recipients "
                "WHERE case_id = $1 AND kind = ANY($2)",
                case_id,
                list(_STAFF),
            )
            for recipient in staff:
                await self._queue_email(event, case, recipient, "staff_step", conn)

    async def _webhooks(self, event: RecordedEvent, case: Any, conn: DbConnection) -> None:
        """Queue the event to each matching subscription; `case` was read under the shared
        subscriptions lock."""
        subscriptions = await conn.fetch(
            "SELECT id, types, territory, school_id, owner_role FROM notification.subscriptions "
            "WHERE deleted_at IS NULL AND from_seq < $1",
            event.seq,
        )
        suffix = _suffix(event.data)
        bodies: dict[Role, str] = {}  # one per owner's role: each sees its row of the policy
        for sub in subscriptions:
            wanted = EventFilter(frozenset(sub["types"]), sub["territory"], sub["school_id"])
            if not wanted.matches(suffix, event.envelope.territory, case["school_id"]):
                continue
            if not subscriber_may_receive(sub["owner_role"], case["escalated"]):
                continue
            role = Role(sub["owner_role"])
            if role not in bodies:
                bodies[role] = webhook_body(event, role)
            await self._queue(
                conn, event, Channel.WEBHOOK, sub["id"], "subscription", WEBHOOK_TEMPLATE,
                bodies[role],
            )  # fmt: skip

    async def _registered(
        self, event: RecordedEvent, data: RecipientRegistered, conn: DbConnection
    ) -> None:
        case_id = event.envelope.subject
        await conn.execute(
            "INSERT INTO notification.recipients (case_id, recipient_ref, kind, student_ref, "
            "language, event_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            case_id,
            data.recipient_ref,
            data.kind.value,
            data.student_ref,
            data.language.value if data.language else None,
            event.id,
        )
        if data.kind is not RecipientKind.PARENT:
            return
        case = await conn.fetchrow(
            "SELECT school_id, protocol, protocol_version, escalated FROM notification.cases "
            "WHERE case_id = $1",
            case_id,
        )
        recipient = await conn.fetchrow(
            "SELECT recipient_ref, kind, language FROM notification.recipients "
            "WHERE case_id = $1 AND recipient_ref = $2",
            case_id,
            data.recipient_ref,
        )
        if case is not None and recipient is not None:
            await self._queue_email(event, case, recipient, "parents", conn)

    async def _queue_email(
        self, event: RecordedEvent, case: Any, recipient: Any, template: str, conn: DbConnection
    ) -> None:
        school_language = await conn.fetchval(
            "SELECT language FROM notification.schools WHERE school_id = $1", case["school_id"]
        )
        language = email_language(recipient["language"], school_language, case["protocol"])
        # The template of the case's protocol version; its content hash is recorded when the
        # message is made.
        name = template_name(case["protocol"], case["protocol_version"], template, language)
        await self._queue(
            conn, event, Channel.EMAIL, recipient["recipient_ref"], recipient["kind"], name, None
        )

    async def _queue(
        self,
        conn: DbConnection,
        event: RecordedEvent,
        channel: Channel,
        target: str,
        kind: str,
        template: str,
        body: str | None,
    ) -> None:
        # A new row is announced on its commit, by its id: the sender (any replica's) takes it
        # at once if it is the oldest unsent of its recipient and case; a row already there (a
        # replay) is announced no more.
        await conn.execute(
            "WITH added AS (INSERT INTO notification.deliveries (id, case_id, territory, seq, "
            "event_id, event_type, event_time, correlation_id, traceparent, channel, target, "
            "recipient_kind, template, body) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT DO NOTHING RETURNING id) "
            "SELECT pg_notify($15, id) FROM added",
            delivery_id(event.id, channel, target),
            event.envelope.subject,
            event.envelope.territory,
            event.seq,
            event.id,
            _suffix(event.data),
            event.envelope.time_dt,
            event.envelope.correlationid,
            # The event's own (its producer): the sender's attempt continues that trace, and a
            # rebuilt outbox holds the same rows (a read model is the log's, nothing else).
            event.envelope.traceparent,
            channel.value,
            target,
            kind,
            template,
            body,
            WAKE_CHANNEL,
        )

    async def _attempted(
        self, event: RecordedEvent, data: DeliveryAttempted, conn: DbConnection
    ) -> None:
        await conn.execute(
            "INSERT INTO notification.outcomes (event_id, case_id, at, delivery_id, channel, "
            "recipient_ref, recipient_kind, template_version, about_event_id, about_type, "
            "attempt, outcome, final, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT DO NOTHING",
            event.id,
            event.envelope.subject,
            event.envelope.time_dt,
            data.delivery_id,
            data.channel.value,
            data.recipient_ref,
            data.recipient_kind,
            data.template_version,
            data.about_event_id,
            data.about_type,
            data.attempt,
            data.outcome.value,
            data.final,
            data.detail,
        )
        # The record is the truth: a rebuilt deliveries table learns here what was sent. A
        # row that already knows this attempt (the sender wrote it, or a retry was asked
        # for since) is left alone.
        settled = status_after(data.outcome, data.final)
        status = None if settled is DeliveryStatus.PENDING else settled  # the row's own stays
        await conn.execute(
            "UPDATE notification.deliveries SET attempts = $2, status = COALESCE($3, status), "
            "sent_at = CASE WHEN $3 = 'sent' THEN $4 ELSE sent_at END "
            "WHERE id = $1 AND attempts < $2 AND status <> 'cancelled'",
            data.delivery_id,
            data.attempt,
            status,
            event.envelope.time_dt,
        )
