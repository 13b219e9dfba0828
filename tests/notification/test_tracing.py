"""One trace per case across every hop, on the real stack (the four services in this
process, each with its own `service.name`, an in-memory exporter on their pipeline):
the partner's requests, each append (PRODUCER) and each consumer's handling of it
(CONSUMER, child of the producer; a fetched batch links its producers), the reactors'
appends, the webhook's attempt, its HTTP request and the partner's receiver. And nothing
personal in any span or log line."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sexto_events.catalogue.escalation import EscalationAcknowledged, EscalationRequested
from sexto_events.catalogue.evaluation import AssessmentMade, GridsOpened
from sexto_events.catalogue.intake import CaseReported
from sexto_events.catalogue.notification import DeliveryAttempted
from sexto_service.telemetry import redacted, span_pipeline

from tests.evaluation.test_grids import IMPULSIVE
from tests.notification.conftest import eventually
from tests.notification.test_four_services import services  # noqa: F401 (fixture)
from tests.notification.test_lifecycle_paths import (  # noqa: F401 (fixture)
    Journey,
    journey,
    subscribe_police,
)
from tests.support.services import caught_up
from tests.support.tracing import Recorder, recorder, service_of, tree

SERVICES = {"sexto-intake", "sexto-evaluation", "sexto-escalation", "sexto-notification"}
PARTNER = "partner-test-client"
RECEIVER = "partner-webhook-receiver"


def provider(name: str) -> TracerProvider:
    """A partner's own tracer provider, on the same pipeline as the services."""
    return TracerProvider(
        resource=Resource.create({"service.name": name}),
        active_span_processor=span_pipeline(),
        shutdown_on_exit=False,
    )


@pytest.fixture
def recording() -> Iterator[Recorder]:
    spans = recorder()
    spans.clear()
    spans.recording = True
    try:
        yield spans
    finally:
        spans.recording = False
        spans.clear()


@pytest.fixture
def case_journey(journey: Journey) -> Journey:  # noqa: F811
    """The lifecycle paths' journey, its receiver's spans those of the partner's service."""
    assert journey.receiver is not None
    journey.receiver.helper.tracer = provider(RECEIVER).get_tracer("tests.receiver")
    return journey


@dataclass
class Traced:
    trace_id: int
    root: ReadableSpan
    spans: list[ReadableSpan]  # every span recorded, of this trace and others

    @property
    def mine(self) -> list[ReadableSpan]:
        return [s for s in self.spans if s.context and s.context.trace_id == self.trace_id]

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        return next(
            (s for s in self.mine if s.context and s.context.span_id == span.parent.span_id),
            None,
        )

    def named(self, name: str, service: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.mine
                if s.name == name and (service is None or service_of(s) == service)]  # fmt: skip


def clients(trip: Journey) -> list[TestClient]:
    notify = trip.notify
    return [notify.world.client, notify.client, trip.evaluation, trip.escalation]


def run_case(
    trip: Journey, spans: Recorder, students: list[dict[str, Any]], summary: str
) -> Traced:
    """Report, grids, assessment, escalation, acknowledgement, webhooks: every request of
    the partner in one trace (its own root span, sent as `traceparent`)."""
    tracer = provider(PARTNER).get_tracer("tests.partner")
    # Not made current here: the services run in this process and must see the partner's
    # span as a remote parent (by header only), as they would across the network.
    root = tracer.start_span("partner: one case", kind=SpanKind.CLIENT)
    headers: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(headers, context=set_span_in_context(root))
    for client in clients(trip):
        client.headers.update(headers)
    try:
        subscribe_police(trip)
        trip.report(students, summary=summary)
        for ref, student in zip(trip.refs, students, strict=True):
            involvement = ["depicted"] if "depicted" in student["roles"] else ["sent"]
            trip.grade({**IMPULSIVE, "involvement": involvement}, ref)
        trip.wait_queued("requested")
        trip.step("acknowledge", {"call_reference": "911-TRACE-1"})
        trip.heard("escalation.requested", "escalation.acknowledged")
        eventually(
            lambda: sum(isinstance(e.data, DeliveryAttempted)
                        for e in trip.notify.events(trip.case_id)) >= 2,
            "both webhook attempts are on the record",
        )  # fmt: skip
    finally:
        root.end()
        for client in clients(trip):
            for name in headers:
                client.headers.pop(name, None)
    for client in clients(trip):
        caught_up(client)  # every consumer's span of this case has ended
    # A delivery's span ends once its row is settled, just after its record went to the log.
    trace_id = root.get_span_context().trace_id
    eventually(
        lambda: sum(s.name == "deliver webhook" and s.context is not None
                    and s.context.trace_id == trace_id
                    for s in spans.get_finished_spans()) >= 2,
        "both delivery spans of this case ended",
    )  # fmt: skip
    root_id = root.get_span_context().span_id
    found = list(spans.get_finished_spans())
    me = next(s for s in found if s.context and s.context.span_id == root_id)
    return Traced(root.get_span_context().trace_id, me, found)


def types_of(producer: ReadableSpan) -> tuple[str, ...]:
    """The event types a PRODUCER span sent (one, or a batch's)."""
    attributes = producer.attributes or {}
    if "sexto.event_type" in attributes:
        return (str(attributes["sexto.event_type"]),)
    return tuple(str(t) for t in attributes["sexto.event_types"])  # type: ignore[union-attr]


def ids_of(producer: ReadableSpan) -> tuple[str, ...]:
    """The event ids a PRODUCER span sent."""
    attributes = producer.attributes or {}
    if "messaging.message.id" in attributes:
        return (str(attributes["messaging.message.id"]),)
    return tuple(str(i) for i in attributes["sexto.event_ids"])  # type: ignore[union-attr]


def consumed_type(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get("sexto.event_type", ""))


def per_event_consumers(traced: Traced) -> list[ReadableSpan]:
    return [s for s in traced.mine if s.kind is SpanKind.CONSUMER
            and "messaging.message.id" in (s.attributes or {})]  # fmt: skip


SENDER = {"name": "Invented Sender-Trace", "roles": ["sender"], "age": 15}
VICTIM = {"name": "Invented Depicted-Trace", "roles": ["depicted"], "age": 14}


def test_one_case_is_one_trace_across_the_four_services_and_the_webhook_receiver(
    case_journey: Journey, recording: Recorder, capfd: pytest.CaptureFixture[str]
) -> None:
    traced = run_case(case_journey, recording, [SENDER, VICTIM], "An invented summary, in words.")
    mine = traced.mine
    if os.environ.get("SEXTO_SHOW_TRACE"):  # SEXTO_SHOW_TRACE=1 pytest ... draws the trace
        with capfd.disabled():
            drawn = tree(mine, traced.trace_id)
            print(f"\ntrace {traced.trace_id:032x} of case {case_journey.case_id}\n{drawn}")

    assert SERVICES | {PARTNER, RECEIVER} <= {service_of(s) for s in mine}
    # The partner's requests: a SERVER span in each service, child of the partner's span.
    for service, name in (
        ("sexto-intake", "POST /v1/cases"),
        ("sexto-evaluation", "PUT /v1/cases/{case_id}/grids/{student_ref}"),
        ("sexto-escalation", "POST /v1/escalations/{case_id}/acknowledge"),
        ("sexto-notification", "POST /v1/subscriptions"),
    ):
        servers = traced.named(name, service)
        assert servers, name
        assert all(s.kind is SpanKind.SERVER for s in servers)
        assert all(traced.parent(s) is traced.root for s in servers)
    # The report's PRODUCER span is the request's descendant, in intake.
    report_type = CaseReported.type_name()
    (report,) = [s for s in mine if s.kind is SpanKind.PRODUCER
                 and types_of(s) == (report_type,)]  # fmt: skip
    assert service_of(report) == "sexto-intake"
    assert report.attributes is not None
    assert report.attributes["messaging.system"] == "nats"
    assert str(report.attributes["messaging.destination.name"]).endswith(".intake.case_reported")
    ancestor = traced.parent(report)
    while ancestor is not None and ancestor.kind is not SpanKind.SERVER:
        ancestor = traced.parent(ancestor)
    assert ancestor is not None
    assert ancestor.name == "POST /v1/cases"
    # Every event consumed is a CONSUMER span whose parent is the PRODUCER that sent it.
    consumers = per_event_consumers(traced)
    assert consumers
    for span in consumers:
        producer = traced.parent(span)
        assert producer is not None, span.name
        assert producer.kind is SpanKind.PRODUCER
        assert consumed_type(span) in types_of(producer)
        assert (span.attributes or {})["messaging.message.id"] in ids_of(producer)
    # Each of the four services consumed the report in this trace.
    assert {service_of(s) for s in consumers if consumed_type(s) == report_type} == SERVICES
    # A reactor's append continues the trace of the event that caused it.
    for service, cause, effect in (
        ("sexto-evaluation", CaseReported, GridsOpened),
        ("sexto-escalation", AssessmentMade, EscalationRequested),
    ):
        wanted = (effect.type_name(),)
        (sent,) = [s for s in mine if s.kind is SpanKind.PRODUCER and service_of(s) == service
                   and types_of(s) == wanted]  # fmt: skip
        parent = traced.parent(sent)
        while parent is not None and parent.kind is not SpanKind.CONSUMER:
            parent = traced.parent(parent)
        assert parent is not None, effect
        assert service_of(parent) == service
        assert consumed_type(parent) == cause.type_name()
    # The webhooks: consumer (outbox) -> attempt -> HTTP client -> the partner's receiver,
    # and the attempt's outcome recorded in the same trace.
    received = traced.named("receive sexto webhook", RECEIVER)
    assert len(received) >= 2
    for span in received:
        client = traced.parent(span)
        assert client is not None
        assert client.kind is SpanKind.CLIENT
        assert service_of(client) == "sexto-notification"
        attempt = traced.parent(client)
        assert attempt is not None
        assert attempt.name == "deliver webhook"
        # The attempt continues the delivered event's trace from its producer (the outbox
        # row keeps the event's `traceparent`: a rebuilt outbox is the same), beside the
        # notification consumer that queued it.
        producer = traced.parent(attempt)
        assert producer is not None
        assert producer.kind is SpanKind.PRODUCER
        (delivered,) = types_of(producer)
        assert delivered in (EscalationRequested.type_name(), EscalationAcknowledged.type_name())
        queued = [s for s in per_event_consumers(traced) if traced.parent(s) is producer
                  and service_of(s) == "sexto-notification"]  # fmt: skip
        assert queued
        outcome = [s for s in mine if traced.parent(s) is attempt and s.kind is SpanKind.PRODUCER]
        assert [types_of(s) for s in outcome] == [(DeliveryAttempted.type_name(),)]
    assert case_journey.receiver is not None
    hooks = [h for h in case_journey.receiver.headers if h.get("webhook-id")]
    assert hooks
    assert all(h["content-type"] == "application/cloudevents+json" for h in hooks)
    assert all(h["traceparent"].split("-")[1] == f"{traced.trace_id:032x}" for h in hooks)
    # A fetched batch has no single parent: its span links to the producers of its events.
    assert report.context is not None
    reported_by = report.context.span_id
    linked = [s for s in traced.spans if s.kind is SpanKind.CONSUMER
              and any(link.context.span_id == reported_by for link in s.links)]  # fmt: skip
    assert {service_of(s) for s in linked} == SERVICES
    assert all(s.name.startswith("process ") and s.context.trace_id != traced.trace_id
               for s in linked if s.context)  # fmt: skip
    # Every event of the case carries the trace in its envelope.
    events = case_journey.notify.events(case_journey.case_id)
    assert events
    assert all((e.envelope.traceparent or "").split("-")[1] == f"{traced.trace_id:032x}"
               for e in events)  # fmt: skip
    # Log lines of a consumed event carry its trace and span ids.
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()
             if line.startswith("{") and '"delivery attempt"' in line]  # fmt: skip
    attempts = {s.context.span_id for s in traced.named("deliver webhook") if s.context}
    joined = [
        line for line in lines
        if line.get("trace_id") == f"{traced.trace_id:032x}"
        and int(line.get("span_id", "0"), 16) in attempts
    ]  # fmt: skip
    assert len(joined) >= 2


CANARY_NAMES = ("Zanthippe Quorvell-Canary", "Barnaby Ploughwright-Canary")
CANARY_SUMMARY = "Canary-summary: Ysolde left the projector on with a photo of a quokka."


def leaks(span: ReadableSpan, canaries: tuple[str, ...]) -> list[str]:
    """Where in the span (as an exporter sees it) a canary appears."""
    texts = {"name": span.name, "status": span.status.description or ""}
    for key, value in (span.attributes or {}).items():
        texts[f"attribute {key}"] = str(value)
    for event in span.events:
        texts[f"event {event.name}"] = event.name + str(dict(event.attributes or {}))
    for link in span.links:
        texts["link"] = str(dict(link.attributes or {}))
    texts["resource"] = str(dict(span.resource.attributes))
    words = [w for c in canaries for w in re.split(r"[\s:,.]+", c) if len(w) > 5]
    return [where for where, text in texts.items() if any(w in text for w in words)]


def test_no_span_attribute_event_or_log_line_holds_a_name_or_words_of_a_case(
    case_journey: Journey, recording: Recorder, capfd: pytest.CaptureFixture[str]
) -> None:
    first, second = CANARY_NAMES
    students = [{**SENDER, "name": first}, {**VICTIM, "name": second}]
    canaries = (*CANARY_NAMES, CANARY_SUMMARY)
    # The scan finds a canary where one is: an exception message, an attribute, a name.
    planted = redacted(ReadableSpan(
        name=f"x {first}", attributes={"a": CANARY_SUMMARY}, status=Status(StatusCode.ERROR, "y"),
        resource=Resource.create({}),
    ))  # fmt: skip
    assert leaks(planted, canaries) == ["name", "attribute a"]

    traced = run_case(case_journey, recording, students, CANARY_SUMMARY)

    # The canaries are in the case (sealed on the log, opened for those who may read them).
    assert first in case_journey.history().text
    assert CANARY_SUMMARY in case_journey.history().text
    assert len(traced.mine) > 50
    for span in traced.spans:  # every span recorded meanwhile, of any trace
        assert leaks(span, canaries) == [], span.name
    out, err = capfd.readouterr()
    assert '"trace_id"' in out  # the services did log, as JSON lines
    for canary in canaries:
        for word in re.split(r"[\s:,.]+", canary):
            if len(word) > 5:
                assert word not in out + err, word


def test_an_exception_leaves_the_process_named_by_its_type_only() -> None:
    tracer = provider("tests-redaction").get_tracer("tests")
    made: list[Any] = []

    def fail() -> None:
        with tracer.start_as_current_span("fails") as current:
            made.append(current)
            raise ValueError("the name Orvald Pennywhistle was in the message")

    with pytest.raises(ValueError, match="Orvald"):
        fail()
    (span,) = made
    assert isinstance(span, ReadableSpan)
    shown = redacted(span)
    assert shown.status.status_code is StatusCode.ERROR
    assert shown.status.description == "ValueError"
    (exception,) = shown.events
    assert dict(exception.attributes or {}) == {"exception.type": "ValueError"}
    assert "Orvald" not in str(span_fields(shown))


def span_fields(span: ReadableSpan) -> dict[str, Any]:
    return {"name": span.name, "attributes": dict(span.attributes or {}),
            "events": [dict(e.attributes or {}) for e in span.events],
            "status": span.status.description}  # fmt: skip


def test_urls_leave_the_process_without_their_query_string() -> None:
    tracer = provider("tests-redaction").get_tracer("tests")
    secret_query = uuid.uuid4().hex
    with tracer.start_as_current_span(
        "GET", attributes={"http.url": f"https://partner.example/hook?token={secret_query}",
                           "url.query": f"token={secret_query}", "http.target": "/a?b=c"},
    ) as span:  # fmt: skip
        pass
    assert isinstance(span, ReadableSpan)
    shown = dict(redacted(span).attributes or {})
    assert shown == {"http.url": "https://partner.example/hook", "url.query": "",
                     "http.target": "/a"}  # fmt: skip
