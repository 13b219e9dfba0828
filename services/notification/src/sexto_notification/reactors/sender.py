"""The sender: claims due deliveries, makes one attempt each, puts the outcome on the record.

Per recipient (a subscription, or an e-mail recipient) and case, only the oldest delivery
not yet sent is ever attempted, so one case's events arrive in order; a delivery that
failed for good holds the ones behind it until it is retried by hand. Each attempt's
outcome is appended to the case (its id derived from the delivery and the attempt number,
so a crash between sending and recording cannot record it twice) before the delivery's
row moves on. Retries reuse the delivery id as `webhook-id` and Message-ID: a receiver
that already has it can tell.

A new delivery is announced by its id when the dispatcher's transaction commits (NOTIFY);
the sender then claims the oldest unsent delivery of that recipient and case (the new one,
unless an older one is still on its way) in one statement, and when an attempt ends it
claims the next of the same recipient and case the same way. Looking over every unsent
delivery (`_HEADS`) is left to the poll every `poll_s`, for retries that come due and
anything announced while this replica was full or not listening.

Claims and the row's settling commit without waiting for the disk (`NO_FLUSH`). A claim is
a lease, whose loss in a PostgreSQL crash lets the delivery be attempted again: at least
once, with the same webhook-id, as any retry. A settling follows its outcome on the record
(appended, and flushed by NATS, first); lost, the row is claimed again after its lease and
settled from the record (`_known`), nothing sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from sexto_events.catalogue.base import Erased
from sexto_events.catalogue.notification import (
    Channel,
    DeliveryAttempted,
    Outcome,
    RecipientRegistered,
)
from sexto_events.commands import append_once
from sexto_events.db import NO_FLUSH, column_names
from sexto_events.errors import AppendFailed, EventLogError, LogUnavailable
from sexto_events.ids import derived_event_id
from sexto_events.model import CaseRef, LoadedCase, NewEvent, RecordedEvent
from sexto_events.tracing import context_from_traceparent
from sexto_protocols import by_id
from sexto_service.runtime import ServiceRuntime
from sexto_service.telemetry import untraced
from standardwebhooks.webhooks import Webhook

from sexto_notification.app.mail import MailFailure, MailTransport, build
from sexto_notification.app.secrets import SecretBox
from sexto_notification.app.urls import RefusedAddress, check_destination
from sexto_notification.config import NotificationSettings
from sexto_notification.domain.mail_contents import mail_values
from sexto_notification.domain.policy import (
    STAFF_STEPS,
    AttemptResult,
    is_final,
    retry_delay,
    status_after,
    status_unrecorded,
)
from sexto_notification.projections.dispatch import WAKE_CHANNEL
from sexto_notification.tables import deliveries
from sexto_notification.templates import UnknownTemplate, render

log = structlog.get_logger("sexto.notification")

NOT_RECORDED = Counter(
    "sexto_notification_unrecorded", "Attempts whose outcome could not be recorded", ["channel"]
)
ATTEMPTS = Counter(
    "sexto_notification_attempts", "Delivery attempts", ["channel", "outcome", "final"]
)
LATENCY = Histogram(
    "sexto_notification_delivery_seconds",
    "From the event's time on the record to its delivery being sent",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600),
)

WEBHOOK_ATTEMPTS = Counter(
    "sexto_webhook_attempts", "Webhook attempts by subscription", ["subscription", "outcome"]
)
WEBHOOK_REQUEST = Histogram(
    "sexto_webhook_request_seconds",
    "One webhook request, from sending to the partner's answer (or giving up)",
    ["subscription", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_DELIVERY = Histogram(
    "sexto_webhook_delivery_seconds",
    "From the event's time on the record to the partner's 2xx, by subscription",
    ["subscription"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600),
)
WEBHOOK_OUTCOMES = ("sent", "failed")


def forget_subscription(sub_id: str) -> None:
    """Drop a deleted subscription's label sets: /metrics stays bounded by the live ones."""
    for outcome in WEBHOOK_OUTCOMES:
        for metric in (WEBHOOK_ATTEMPTS, WEBHOOK_REQUEST):
            with contextlib.suppress(KeyError):  # never attempted with this outcome
                metric.remove(sub_id, outcome)
    with contextlib.suppress(KeyError):
        WEBHOOK_DELIVERY.remove(sub_id)


# The content type the AsyncAPI document declares for every event (structured CloudEvents).
WEBHOOK_CONTENT_TYPE = "application/cloudevents+json"

_HEADS = """
SELECT id FROM (
    SELECT DISTINCT ON (channel, target, case_id) id, status, next_attempt_at, leased_until
    FROM notification.deliveries
    WHERE status <> 'sent' AND status <> 'cancelled'
    ORDER BY channel, target, case_id, seq, id
) heads
WHERE status = 'pending' AND next_attempt_at <= now()
  AND (leased_until IS NULL OR leased_until < now())
  AND NOT (id = ANY($2::text[]))
ORDER BY next_attempt_at
LIMIT $1
"""

_LEASE = (
    "SET leased_until = now() + make_interval(secs => $2), lease_token = gen_random_uuid()::text"
)
_CLAIMABLE = """status = 'pending' AND next_attempt_at <= now()
  AND (leased_until IS NULL OR leased_until < now())"""

_CLAIM = f"""
UPDATE notification.deliveries {_LEASE}
FROM {NO_FLUSH}
WHERE id = ANY($1::text[]) AND {_CLAIMABLE}
RETURNING {column_names(deliveries)}
"""

# The oldest unsent delivery of each recipient and case that the given deliveries belong to,
# claimed if due and free: a fresh delivery when nothing older of its case is unsent, the
# next one after an attempt ended.
_CLAIM_NEXT = f"""
UPDATE notification.deliveries {_LEASE}
FROM (
    SELECT DISTINCT ON (h.channel, h.target, h.case_id) h.id AS head_id
    FROM notification.deliveries q
    JOIN notification.deliveries h USING (channel, target, case_id)
    WHERE q.id = ANY($1::text[]) AND h.status <> 'sent' AND h.status <> 'cancelled'
    ORDER BY h.channel, h.target, h.case_id, h.seq, h.id
) heads, {NO_FLUSH}
WHERE id = heads.head_id AND NOT (id = ANY($3::text[])) AND {_CLAIMABLE}
RETURNING {column_names(deliveries)}
"""
# Ids kept to look at when this replica is full; beyond this many, the poll finds the rest.
MAX_ANNOUNCED = 10_000


def unreadable(exc: BaseException) -> bool:
    """True when the case's record itself cannot be read (a broken chain, a stored message
    that is not an event); false when the log only did not answer in time (a node down, a
    leader being elected), which a later attempt gets past."""
    return isinstance(exc, EventLogError) and not isinstance(exc, LogUnavailable)


def signature_header(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    """`v1,<sig>` for each secret in use (two while a rotation overlaps), space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


class Sender:
    """Runs in each notification replica; rows are claimed with a lease, never twice at once."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: NotificationSettings,
        mail: MailTransport,
        http: httpx.AsyncClient,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.mail = mail
        self.http = http
        self.box = SecretBox(runtime.settings.master_key_bytes())
        self.tracer = runtime.tracer_provider.get_tracer("sexto.notification")
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # Deliveries whose recipient and case may have one due now (announced, or just
        # attempted), in the order heard; and whether to look over every unsent one.
        self._announced: dict[str, None] = {}
        self._poll = True

    def announce(self, delivery_id: str) -> None:
        """Look at `delivery_id`'s recipient and case at once (an empty id: at everything)."""
        if delivery_id and len(self._announced) < MAX_ANNOUNCED:
            self._announced[delivery_id] = None
        else:
            self._poll = True
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: take announced deliveries (LISTEN) at once, and every `poll_s`
        look over all unsent ones for retries come due."""
        listener: Any = None
        loop = asyncio.get_running_loop()

        def heard(_conn: object, _pid: object, _channel: object, payload: object) -> None:
            self.announce(str(payload or ""))

        try:
            listener = await self.runtime.pool.acquire()
            await listener.add_listener(WAKE_CHANNEL, heard)
            poll_at = loop.time()
            while True:
                if loop.time() >= poll_at:
                    # Kept asked for until it runs (a full replica polls when room frees).
                    self._poll, poll_at = True, loop.time() + self.settings.poll_s
                try:
                    await self._round()
                except Exception as exc:
                    log.warning("sender round failed", error=type(exc).__name__)
                    self._poll = True  # what was announced is found by the next poll
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, poll_at - loop.time()))
                self._wake.clear()
        finally:
            for task in list(self._inflight.values()):
                task.cancel()
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(WAKE_CHANNEL, heard)
                await self.runtime.pool.release(listener)

    async def _round(self) -> None:
        """Claim what there is room for: the announced first, then (when asked) the poll's."""
        room = self.settings.concurrency - len(self._inflight)
        if room <= 0:
            return
        with untraced():  # a poll is no part of a case; each attempt is (see `_attempt`)
            async with self.runtime.pool.acquire() as conn:
                rows = []
                if self._announced:
                    ids = list(itertools.islice(self._announced, room))
                    for key in ids:
                        del self._announced[key]
                    rows = await conn.fetch(
                        _CLAIM_NEXT, ids, self.settings.lease_s, list(self._inflight)
                    )
                if self._poll and room > len(rows):
                    self._poll = False
                    busy = [*self._inflight, *(r["id"] for r in rows)]
                    heads = [r["id"] for r in await conn.fetch(_HEADS, room - len(rows), busy)]
                    if heads:
                        rows += await conn.fetch(_CLAIM, heads, self.settings.lease_s)
        for row in rows:
            task = asyncio.create_task(self._attempt(dict(row)))
            self._inflight[row["id"]] = task
            task.add_done_callback(functools.partial(self._done, row["id"]))
        if self._announced:
            self._wake.set()  # more was announced than there was room for

    def _done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self.announce(key)  # the next delivery of that recipient and case may now go

    async def _attempt(self, row: dict[str, Any]) -> None:
        """One attempt, in the trace of the event it delivers (its webhook's CLIENT span and
        the recorded outcome's PRODUCER span are children of this one)."""
        attributes = {
            "sexto.delivery_id": row["id"],
            "sexto.case_id": row["case_id"],
            "sexto.channel": row["channel"],
            "sexto.about_event_type": row["event_type"],
            "sexto.attempt": row["attempts"] + 1,
        }
        if row["channel"] == Channel.WEBHOOK.value:
            attributes["sexto.subscription_id"] = row["target"]
        with self.tracer.start_as_current_span(
            f"deliver {row['channel']}",
            context=context_from_traceparent(row["traceparent"]),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        ):
            await self._attempt_traced(row)

    async def _attempt_traced(self, row: dict[str, Any]) -> None:
        """One attempt, bounded well within the lease; whatever happens is recorded."""
        case = CaseRef(row["territory"], row["case_id"])
        outcome: tuple[str, AttemptResult] | None
        loaded: LoadedCase | None = None
        try:
            async with asyncio.timeout(self.settings.lease_s / 2):
                loaded = await self.runtime.store.load(case)
                if await self._known(row, loaded.events):
                    return  # the record already holds this attempt: nothing to send again
                if row["channel"] == Channel.WEBHOOK.value:
                    outcome = await self._webhook(row)
                else:
                    outcome = await self._email(row, loaded.events)
        except TimeoutError:
            outcome = row["template"], AttemptResult(False, "timeout (attempt took too long)")
        except Exception as exc:
            outcome = (
                row["template"],
                AttemptResult(False, f"internal error ({type(exc).__name__})"),
            )
        if outcome is None:
            return
        try:
            # The rest of the lease bounds the recording: no other replica takes the
            # delivery while this attempt may still be recorded.
            async with asyncio.timeout(self.settings.lease_s * 0.4):
                await self._record(row, *outcome, read=loaded)
        except Exception as exc:  # shown on the delivery, tried again later
            await self._unrecorded(row, exc)

    async def _unrecorded(self, row: dict[str, Any], exc: BaseException) -> None:
        """The outcome could not be put on the record: say so on the delivery and back off.
        A case whose record cannot be read (a broken chain) fails the delivery outright, so
        it shows among the failed ones and can be cancelled."""
        NOT_RECORDED.labels(row["channel"]).inc()
        reason = f"not recorded ({type(exc).__name__})"
        # A refusal's text names the case by id and the server's reason: no personal data.
        detail = str(exc)[:300] if isinstance(exc, AppendFailed) else None
        log.warning("delivery attempt not recorded", delivery=row["id"], error=reason,
                    detail=detail)  # fmt: skip
        status = status_unrecorded(case_unreadable=unreadable(exc))
        s = self.settings
        delay = retry_delay(
            row["attempts"] + 1,
            s.backoff_base_s,
            s.backoff_cap_s,
            s.jitter,
            random.random(),  # noqa: S311
        )
        with contextlib.suppress(Exception):
            async with self.runtime.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE notification.deliveries SET status = $3, last_error = $4, "
                    "next_attempt_at = $5, leased_until = NULL, lease_token = NULL "
                    "WHERE id = $1 AND lease_token = $2 AND status = 'pending'",
                    row["id"],
                    row["lease_token"],
                    status,
                    reason,
                    datetime.now(UTC) + timedelta(seconds=delay),
                )

    async def _known(self, row: dict[str, Any], events: list[RecordedEvent]) -> bool:
        """True (and the row brought up to date) when the record holds a later attempt than
        the row knows: a crash after recording, or an outbox rebuilt from the log."""
        attempts = [
            e.data for e in events
            if isinstance(e.data, DeliveryAttempted) and e.data.delivery_id == row["id"]
            and e.data.attempt > row["attempts"]
        ]  # fmt: skip
        if not attempts:
            return False
        latest = max(attempts, key=lambda a: a.attempt)
        await self._settle(row, latest)
        return True

    async def _settle(self, row: dict[str, Any], recorded: DeliveryAttempted) -> None:
        """Set the row from the attempt on the record; only while holding the lease."""
        status = status_after(recorded.outcome, recorded.final)
        s = self.settings
        delay = retry_delay(
            recorded.attempt,
            s.backoff_base_s,
            s.backoff_cap_s,
            s.jitter,
            random.random(),  # noqa: S311
        )
        async with self.runtime.pool.acquire() as conn:
            # Without waiting for the disk: the record holds the attempt already (see above).
            await conn.execute(
                "UPDATE notification.deliveries SET attempts = $3, status = $4, "
                "next_attempt_at = $5, leased_until = NULL, lease_token = NULL, "
                "last_error = $6, sent_at = CASE WHEN $4 = 'sent' THEN now() ELSE sent_at END "
                f"FROM {NO_FLUSH} "
                "WHERE id = $1 AND lease_token = $2 AND status <> 'cancelled'",
                row["id"],
                row["lease_token"],
                recorded.attempt,
                status,
                datetime.now(UTC) + timedelta(seconds=delay),
                None if status == "sent" else recorded.detail,
            )

    async def _webhook(self, row: dict[str, Any]) -> tuple[str, AttemptResult] | None:
        async with self.runtime.pool.acquire() as conn:
            sub = await conn.fetchrow(
                "SELECT id, url, secret, previous_secret, previous_until "
                "FROM notification.subscriptions WHERE id = $1 AND deleted_at IS NULL",
                row["target"],
            )
            if sub is None:  # unsubscribed since: nothing to send, nothing to tell
                await conn.execute(
                    "UPDATE notification.deliveries SET status = 'cancelled', "
                    "leased_until = NULL WHERE id = $1",
                    row["id"],
                )
                forget_subscription(row["target"])  # its label sets in this replica too
                return None
        now = datetime.now(UTC)
        secrets = [self.box.open(sub["id"], sub["secret"])]
        if sub["previous_secret"] is not None and (sub["previous_until"] or now) > now:
            secrets.append(self.box.open(sub["id"], sub["previous_secret"]))
        try:
            await check_destination(sub["url"], self.settings.allow_insecure_urls)
        except RefusedAddress as exc:
            # Retried like any failure: the partner's DNS may be put right.
            return row["template"], AttemptResult(False, str(exc)[:200])
        body: str = row["body"]
        headers = {
            "content-type": WEBHOOK_CONTENT_TYPE,
            "user-agent": "sexto-notification/1",
            "webhook-id": row["id"],
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature_header(secrets, row["id"], now, body),
        }
        started = time.perf_counter()
        result = await self._post(sub["url"], body, headers)
        outcome = WEBHOOK_OUTCOMES[0] if result.sent else WEBHOOK_OUTCOMES[1]
        WEBHOOK_REQUEST.labels(row["target"], outcome).observe(time.perf_counter() - started)
        WEBHOOK_ATTEMPTS.labels(row["target"], outcome).inc()
        if result.sent:
            WEBHOOK_DELIVERY.labels(row["target"]).observe(
                (datetime.now(UTC) - row["event_time"]).total_seconds()
            )
        return row["template"], result

    async def _post(self, url: str, body: str, headers: dict[str, str]) -> AttemptResult:
        """One POST; the instrumented client adds the `traceparent` of its CLIENT span."""
        try:
            response = await self.http.post(
                url, content=body.encode(), headers=headers, timeout=self.settings.request_timeout_s
            )
        except httpx.TimeoutException:
            return AttemptResult(False, "timeout")
        except httpx.HTTPError as exc:
            return AttemptResult(False, f"not reached ({type(exc).__name__})")
        ok = 200 <= response.status_code < 300
        return AttemptResult(ok, f"http {response.status_code}")

    async def _email(
        self, row: dict[str, Any], events: list[RecordedEvent]
    ) -> tuple[str, AttemptResult]:
        async with self.runtime.pool.acquire() as conn:
            info = await conn.fetchrow(
                "SELECT c.protocol, c.protocol_version, s.name AS school FROM notification.cases c "
                "LEFT JOIN notification.schools s ON s.school_id = c.school_id "
                "WHERE c.case_id = $1",
                row["case_id"],
            )
        address: str | Erased | None = None
        for event in events:
            data = event.data
            if isinstance(data, RecipientRegistered) and data.recipient_ref == row["target"]:
                address = data.email
        if not isinstance(address, str):
            return row["template"], AttemptResult(False, "recipient erased", permanent=True)
        cause = next((e for e in events if e.id == row["event_id"]), None)
        language = str(row["template"]).rsplit(".", 1)[-1]
        version = by_id(info["protocol_version"]) if info and info["protocol_version"] else None
        facts = {
            "case_id": row["case_id"],
            "school": (info["school"] if info else None) or "",
            "protocol_version": f"{version.name} v{version.version}" if version else "",
            "step": STAFF_STEPS.get(row["event_type"], {}).get(language, row["event_type"]),
            "at": cause.envelope.time if cause else "",
        }
        # What the message may say of the case: a parent's letter its own few fields, staff
        # their role's row of the disclosure policy.
        values = mail_values(row["recipient_kind"], facts, row["case_id"])
        try:
            message = render(row["template"], **values)
        except UnknownTemplate as exc:
            return row["template"], AttemptResult(False, str(exc)[:200], permanent=True)
        mail = build(self.settings, address, message, row["id"])
        try:
            detail = await self.mail.send(mail)
        except MailFailure as exc:
            return message.template_version, AttemptResult(False, exc.detail, exc.permanent)
        return message.template_version, AttemptResult(True, detail)

    async def _record(
        self,
        row: dict[str, Any],
        template_version: str,
        result: AttemptResult,
        *,
        read: LoadedCase | None = None,
    ) -> None:
        """Put the attempt on the case's record (`read`: the case as loaded for it), then
        settle the row from it."""
        attempt = row["attempts"] + 1
        final = is_final(result, attempt, self.settings.max_attempts)
        outcome = DeliveryAttempted(
            delivery_id=row["id"],
            channel=Channel(row["channel"]),
            recipient_ref=row["target"],
            recipient_kind=row["recipient_kind"],
            template_version=template_version,
            about_event_id=row["event_id"],
            about_type=row["event_type"],
            attempt=attempt,
            outcome=Outcome.SENT if result.sent else Outcome.FAILED,
            final=final,
            detail=result.detail[:200],
        )
        event = NewEvent(
            outcome,
            "sexto-notification",
            "service",
            correlation_id=row["correlation_id"],
            causation_id=row["event_id"],
            event_id=derived_event_id(row["id"], f"attempt|{attempt}"),
        )
        case = CaseRef(row["territory"], row["case_id"])
        if not await append_once(self.runtime.store, case, event, read=read):
            # This very attempt is on the record already (made before a crash): the record
            # says how it ended, whatever this run saw.
            loaded = await self.runtime.store.load(case)
            recorded = next(e.data for e in loaded.events if e.id == event.event_id)
            assert isinstance(recorded, DeliveryAttempted)
            await self._settle(row, recorded)
            return
        await self._settle(row, outcome)
        ATTEMPTS.labels(row["channel"], outcome.outcome.value, str(final).lower()).inc()
        if result.sent:
            LATENCY.labels(row["channel"]).observe(
                (datetime.now(UTC) - row["event_time"]).total_seconds()
            )
        log.info(
            "delivery attempt",
            delivery=row["id"],
            channel=row["channel"],
            attempt=attempt,
            outcome=outcome.outcome.value,
            final=final,
            detail=result.detail,
        )
