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
from sexto_events.db import DbConnection
from sexto_events.ids import derived_event_id
from sexto_events.model import RecordedEvent
from sexto_events.personal import walk_personal
from sexto_events.principal import POLICE_ROLES, Role

from sexto_notification.domain.policy import STAFF_STEPS, EventFilter, status_after
from sexto_notification.templates import template_name

WAKE_CHANNEL = "sexto_notification_due"
# Advisory lock between matching events to subscriptions (shared, in the consumer's
# transaction) and making a subscription (exclusive): see create_subscription.
SUBSCRIPTIONS_LOCK = 0x5E7_0001
WEBHOOK_TEMPLATE = "cloudevents-json/v1"

SUBSCRIPTIONS_DDL = """
CREATE TABLE IF NOT EXISTS notification.subscriptions (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    types           text[] NOT NULL,
    territory       text,
    school_id       text,
    secret          bytea NOT NULL,
    previous_secret bytea,
    previous_until  timestamptz,
    owner_subject   text NOT NULL,
    owner_role      text NOT NULL,
    from_seq        bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    idempotency_key text
);
CREATE UNIQUE INDEX IF NOT EXISTS subscriptions_idempotency
    ON notification.subscriptions (owner_subject, idempotency_key);
"""

_DDL = """
CREATE TABLE IF NOT EXISTS notification.cases (
    case_id text PRIMARY KEY, territory text NOT NULL, school_id text NOT NULL,
    protocol text NOT NULL, protocol_version text, escalated boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS notification.recipients (
    case_id text NOT NULL, recipient_ref text NOT NULL, kind text NOT NULL,
    student_ref text, language text, event_id text NOT NULL,
    PRIMARY KEY (case_id, recipient_ref));
CREATE TABLE IF NOT EXISTS notification.deliveries (
    id              text PRIMARY KEY,
    case_id         text NOT NULL,
    territory       text NOT NULL,
    seq             bigint NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    event_time      timestamptz NOT NULL,
    correlation_id  text NOT NULL,
    traceparent     text,
    channel         text NOT NULL,
    target          text NOT NULL,
    recipient_kind  text NOT NULL,
    template        text NOT NULL,
    body            text,
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    lease_token     text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS deliveries_heads ON notification.deliveries
    (channel, target, case_id, seq) WHERE status <> 'sent' AND status <> 'cancelled';
CREATE INDEX IF NOT EXISTS deliveries_status ON notification.deliveries (status, created_at);
CREATE TABLE IF NOT EXISTS notification.outcomes (
    event_id text PRIMARY KEY, case_id text NOT NULL, at timestamptz NOT NULL,
    delivery_id text NOT NULL, channel text NOT NULL, recipient_ref text NOT NULL,
    recipient_kind text NOT NULL, template_version text NOT NULL, about_event_id text NOT NULL,
    about_type text NOT NULL, attempt integer NOT NULL, outcome text NOT NULL,
    final boolean NOT NULL, detail text NOT NULL);
CREATE INDEX IF NOT EXISTS outcomes_case ON notification.outcomes (case_id, at);
"""

ESCALATED_ONLY = frozenset(r.value for r in (*POLICE_ROLES, Role.PROSECUTOR))
_STAFF = (RecipientKind.INTERVENER.value, RecipientKind.SAFEGUARDING_LEAD.value)


def delivery_id(event_id: str, channel: Channel, target: str) -> str:
    """The delivery's id (and webhook-id): fixed by the event, the channel and the recipient."""
    return derived_event_id(event_id, f"deliver|{channel.value}|{target}")


def webhook_body(event: RecordedEvent) -> str:
    """What a subscriber receives: the CloudEvent, personal fields withheld.

    Addresses and free text are sealed in the log and never leave by webhook; the `hash`
    names the event on the record (it covers the stored, sealed form).
    """
    data = event.data
    cls = type(data)
    plain = walk_personal(
        cls, data.model_dump(mode="json"), event.envelope.subject,
        lambda _value, _subject, _where: {"withheld": True},
    )  # fmt: skip
    body = event.envelope.model_dump(mode="json", exclude_none=True)
    body.pop("prevhash", None)
    body["type"] = cls.type_name()
    body["data"] = plain
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _suffix(data: EventData) -> str:
    return data.subject_suffix()


class Dispatcher:
    """Applies case events to the notification schema and queues deliveries."""

    name = "dispatch"

    async def migrate(self, conn: DbConnection) -> None:
        await conn.execute(SUBSCRIPTIONS_DDL + _DDL)

    async def drop(self, conn: DbConnection) -> None:
        # Subscriptions are partners' configuration, not derived from the log; deliveries
        # are the outbox (what is still to send): both are kept. Replaying re-queues nothing,
        # as delivery ids derive from the events. Were the outbox lost, the outcome events
        # replayed here mark again what was sent.
        await conn.execute(
            "DROP TABLE IF EXISTS notification.cases, notification.recipients, "
            "notification.outcomes"
        )

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        case_id = event.envelope.subject
        if isinstance(data, CaseReported):
            await conn.execute(
                "INSERT INTO notification.cases VALUES ($1, $2, $3, $4, $5, false) "
                "ON CONFLICT DO NOTHING",
                case_id, event.envelope.territory, data.school_id, data.protocol.value,
                event.envelope.protocolversion,
            )  # fmt: skip
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
        case = await conn.fetchrow("SELECT * FROM notification.cases WHERE case_id = $1", case_id)
        if case is None:
            return  # not a case this service knows (no report on the record)
        await self._webhooks(event, case, conn)
        if _suffix(data) in STAFF_STEPS:
            staff = await conn.fetch(
                "SELECT * FROM notification.recipients WHERE case_id = $1 AND kind = ANY($2)",
                case_id, list(_STAFF),
            )  # fmt: skip
            for recipient in staff:
                await self._queue_email(event, case, recipient, "staff_step", conn)

    async def _webhooks(self, event: RecordedEvent, case: Any, conn: DbConnection) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", SUBSCRIPTIONS_LOCK)
        subscriptions = await conn.fetch(
            "SELECT id, types, territory, school_id, owner_role FROM notification.subscriptions "
            "WHERE deleted_at IS NULL AND from_seq < $1",
            event.seq,
        )
        suffix = _suffix(event.data)
        body: str | None = None
        for sub in subscriptions:
            wanted = EventFilter(frozenset(sub["types"]), sub["territory"], sub["school_id"])
            if not wanted.matches(suffix, event.envelope.territory, case["school_id"]):
                continue
            if sub["owner_role"] in ESCALATED_ONLY and not case["escalated"]:
                continue  # police and prosecutors see escalated cases only
            body = body or webhook_body(event)
            await self._queue(
                conn, event, Channel.WEBHOOK, sub["id"], "subscription", WEBHOOK_TEMPLATE, body
            )

    async def _registered(
        self, event: RecordedEvent, data: RecipientRegistered, conn: DbConnection
    ) -> None:
        case_id = event.envelope.subject
        await conn.execute(
            "INSERT INTO notification.recipients VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT DO NOTHING",
            case_id, data.recipient_ref, data.kind.value, data.student_ref,
            data.language.value if data.language else None, event.id,
        )  # fmt: skip
        if data.kind is not RecipientKind.PARENT:
            return
        case = await conn.fetchrow("SELECT * FROM notification.cases WHERE case_id = $1", case_id)
        recipient = await conn.fetchrow(
            "SELECT * FROM notification.recipients WHERE case_id = $1 AND recipient_ref = $2",
            case_id, data.recipient_ref,
        )  # fmt: skip
        if case is not None and recipient is not None:
            await self._queue_email(event, case, recipient, "parents", conn)

    async def _queue_email(
        self, event: RecordedEvent, case: Any, recipient: Any, template: str, conn: DbConnection
    ) -> None:
        language = recipient["language"] or await conn.fetchval(
            "SELECT language FROM notification.schools WHERE school_id = $1", case["school_id"]
        )
        if language is None:
            language = "en" if case["protocol"] == "uk-dsl" else "fr"
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
        inserted = await conn.fetchval(
            "INSERT INTO notification.deliveries (id, case_id, territory, seq, event_id, "
            "event_type, event_time, correlation_id, traceparent, channel, target, "
            "recipient_kind, template, body) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            delivery_id(event.id, channel, target), event.envelope.subject,
            event.envelope.territory, event.seq, event.id, _suffix(event.data),
            event.envelope.time_dt, event.envelope.correlationid, event.envelope.traceparent,
            channel.value, target, kind, template, body,
        )  # fmt: skip
        if inserted:
            # Delivered to listeners when this transaction commits: the sender wakes at once.
            await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)

    async def _attempted(
        self, event: RecordedEvent, data: DeliveryAttempted, conn: DbConnection
    ) -> None:
        await conn.execute(
            "INSERT INTO notification.outcomes VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT DO NOTHING",
            event.id, event.envelope.subject, event.envelope.time_dt, data.delivery_id,
            data.channel.value, data.recipient_ref, data.recipient_kind, data.template_version,
            data.about_event_id, data.about_type, data.attempt, data.outcome.value, data.final,
            data.detail,
        )  # fmt: skip
        # The record is the truth: a rebuilt deliveries table learns here what was sent. A
        # row that already knows this attempt (the sender wrote it, or a retry was asked
        # for since) is left alone.
        settled = status_after(data.outcome, data.final)
        status = None if settled == "pending" else settled  # pending: the row's own stays
        await conn.execute(
            "UPDATE notification.deliveries SET attempts = $2, status = COALESCE($3, status), "
            "sent_at = CASE WHEN $3 = 'sent' THEN $4 ELSE sent_at END "
            "WHERE id = $1 AND attempts < $2 AND status <> 'cancelled'",
            data.delivery_id, data.attempt, status, event.envelope.time_dt,
        )  # fmt: skip
