"""Settings refuse unsafe secrets; trace context travels in the envelope and the headers."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    NoOpTracer,
    ProxyTracer,
    ProxyTracerProvider,
    SpanContext,
    SpanKind,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import ValidationError
from sexto_events.connection import EventLogClient
from sexto_events.epoch_lease import DEFAULT_LEASE_S
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.settings import DEVELOPMENT_MASTER_KEY, EventLogSettings
from sexto_events.store import EventStore
from sexto_events.tracing import context_from_traceparent, makes_spans, trace_headers

from tests.support.events import note


def test_production_refuses_the_development_master_key() -> None:
    with pytest.raises(ValidationError, match="development key"):
        EventLogSettings(environment="production", master_key=DEVELOPMENT_MASTER_KEY)


def test_production_refuses_replicas_whose_fsync_readiness_cannot_be_checked() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ValidationError, match="SEXTO_NATS_MONITOR_URLS is empty"):
        EventLogSettings(environment="production", master_key=key, stream_replicas=3)
    with_urls = EventLogSettings(environment="production", master_key=key, stream_replicas=3,
                                 nats_monitor_urls="http://n1:8222,http://n2:8222")  # fmt: skip
    assert with_urls.stream_replicas == 3
    assert EventLogSettings(environment="production", master_key=key).stream_replicas == 1
    assert EventLogSettings(environment="test", stream_replicas=3).nats_monitor_urls == ""


def test_a_master_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        EventLogSettings(master_key=base64.b64encode(b"short").decode())


def test_settings_come_from_the_sexto_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("SEXTO_ENVIRONMENT", "production")
    monkeypatch.setenv("SEXTO_MASTER_KEY", key)
    monkeypatch.setenv("SEXTO_NATS_URL", "nats://10.0.0.1:4222")

    settings = EventLogSettings()

    assert settings.nats_url == "nats://10.0.0.1:4222"
    assert settings.master_key_bytes() == base64.b64decode(key)


def test_the_shred_epoch_lease_is_one_second_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEXTO_KEY_LEASE_S")  # the suite sets a short one for every process
    assert EventLogSettings().key_lease_s == DEFAULT_LEASE_S == 1.0
    monkeypatch.setenv("SEXTO_KEY_LEASE_S", "0.25")
    assert EventLogSettings().key_lease_s == 0.25
    for wrong in ("-1", "61", "soon"):
        monkeypatch.setenv("SEXTO_KEY_LEASE_S", wrong)
        with pytest.raises(ValidationError, match="key_lease_s"):
            EventLogSettings()


def traced_store(nc: Client, store: EventStore) -> tuple[EventStore, InMemorySpanExporter]:
    """A store on the suite's stream whose spans are kept in memory."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    traced = EventStore(
        nc, source="sexto/tests", codec=store.codec, tracer=provider.get_tracer("tests")
    )
    return traced, spans


async def test_an_append_is_a_producer_span_carried_in_the_envelope_and_the_headers(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    traced, spans = traced_store(nc, store)
    tracer = TracerProvider().get_tracer("tests")
    case = new_case()
    with tracer.start_as_current_span("http request") as span:
        result = await traced.append(case, [note("traced")], CaseVersion.new())
        trace_id = span.get_span_context().trace_id
        request_id = span.get_span_context().span_id

    (producer,) = spans.get_finished_spans()
    assert producer.kind is SpanKind.PRODUCER
    assert producer.name == "send intake.note_added"
    assert producer.parent is not None
    assert producer.parent.span_id == request_id
    assert producer.context is not None
    assert producer.context.trace_id == trace_id
    attributes = dict(producer.attributes or {})
    assert attributes["messaging.system"] == "nats"
    assert attributes["messaging.destination.name"] == traced.subject_for(
        case, type(note("x").data)
    )
    assert attributes["messaging.message.id"] == result.event_ids[0]
    expected = f"00-{trace_id:032x}-{producer.context.span_id:016x}-"
    envelope = (await store.load(case)).events[0].envelope
    assert envelope.traceparent is not None
    assert envelope.traceparent.startswith(expected)
    parent = trace.get_current_span(context_from_traceparent(envelope.traceparent))
    assert parent.get_span_context().trace_id == trace_id
    stored = await nc.jetstream().get_msg("CASES", result.seqs[0])
    assert (stored.headers or {})["traceparent"].startswith(expected)
    await traced.close()


async def test_a_traced_append_outside_any_request_starts_its_own_trace(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    traced, spans = traced_store(nc, store)
    case = new_case()
    await traced.append(case, [note("on its own")], CaseVersion.new())

    (producer,) = spans.get_finished_spans()
    assert producer.parent is None
    assert producer.context is not None
    envelope = (await store.load(case)).events[0].envelope
    assert envelope.traceparent is not None
    assert envelope.traceparent.split("-")[1] == f"{producer.context.trace_id:032x}"
    await traced.close()


async def test_a_process_without_tracing_writes_no_traceparent(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    untraced = EventStore(nc, source="sexto/tests", codec=store.codec, tracer=NoOpTracer())
    case = new_case()
    result = await untraced.append(case, [note("untraced")], CaseVersion.new())

    assert (await store.load(case)).events[0].envelope.traceparent is None
    stored = await nc.jetstream().get_msg("CASES", result.seqs[0])
    assert "traceparent" not in (stored.headers or {})
    await untraced.close()


async def test_an_untraced_append_inside_a_request_carries_the_requests_context_as_is(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    # A tracer that makes no span (OTEL_SDK_DISABLED) makes none at all now, not a no-op
    # one: what it wrote before, the caller's own context, it still writes.
    untraced = EventStore(nc, source="sexto/tests", codec=store.codec, tracer=NoOpTracer())
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    case = new_case()
    with provider.get_tracer("tests").start_as_current_span("http request") as span:
        result = await untraced.append(case, [note("untraced")], CaseVersion.new())
        context = span.get_span_context()

    request = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert (await store.load(case)).events[0].envelope.traceparent == request
    stored = await nc.jetstream().get_msg("CASES", result.seqs[0])
    assert (stored.headers or {})["traceparent"] == request
    (only,) = spans.get_finished_spans()  # the request's: no span of the append
    assert "messaging.message.id" not in dict(only.attributes or {})
    await untraced.close()


def test_only_a_tracer_that_can_record_makes_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not makes_spans(NoOpTracer())
    assert makes_spans(TracerProvider().get_tracer("tests"))
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not makes_spans(TracerProvider().get_tracer("tests"))
    # The API's proxy makes spans once an SDK provider is the global one, and not before.
    global_is_sdk = not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
    assert makes_spans(ProxyTracer("tests")) is global_is_sdk

    class LaterProxy(ProxyTracer):  # an API release without the private attribute
        _tracer = None  # type: ignore[assignment]

    assert makes_spans(LaterProxy("tests"))


@pytest.mark.parametrize(
    "raw",
    [
        b"Nats-Msg-Id: abc\r\nNats-Sequence: 12\r\n\r\n",
        b"Name:NoSpace\r\nBad Name: skipped\r\n\xc3\xa9t\xc3\xa9: skipped\r\nUtf: caf\xc3\xa9\r\n",
        b"Broken-Line-Without-Colon\r\nA:  spaced value  \r\nB:\tx\r\n",
        b"Bad: \xff\xfe\r\n",
        b"\xff:lead\r\nK\x1cey: unit separator\r\nNb: \xc2\xa0nbsp kept\xc2\xa0\r\n",
        b"Trunc: caf\xc3\r\nNext: ok\r\n",
    ],
)
def test_the_fast_header_parser_agrees_with_nats_py(raw: bytes) -> None:
    assert EventLogClient._parse_header_lines(raw) == Client._parse_header_lines(raw)


class AtStart(SpanProcessor):
    """Keeps each span's attributes as they were when it started."""

    def __init__(self) -> None:
        self.started: list[dict[str, object]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(dict(span.attributes or {}))


async def test_a_producer_span_has_every_attribute_from_its_start_one_or_several_events(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    spans = InMemorySpanExporter()
    at_start = AtStart()
    provider = TracerProvider()
    provider.add_span_processor(at_start)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    traced = EventStore(nc, source="sexto/tests", codec=store.codec,
                        tracer=provider.get_tracer("tests"))  # fmt: skip
    case = new_case()
    one = await traced.append(case, [note("first")], CaseVersion.new())
    two = await traced.append(case, [note("second"), note("third")], one.version)

    single, batch = spans.get_finished_spans()
    assert at_start.started == [dict(single.attributes or {}), dict(batch.attributes or {})]
    assert at_start.started[0]["messaging.message.id"] == one.event_ids[0]
    assert batch.name == "send 2 events"
    assert list(at_start.started[1]["sexto.event_ids"]) == two.event_ids  # type: ignore[call-overload]
    assert at_start.started[1]["messaging.batch.message_count"] == 2
    # One traceparent per span, in every envelope and in the headers of the append's first
    # message (the one that carries the append's conditions).
    envelopes = {e.envelope.id: e.envelope for e in (await store.load(case)).events}
    for result, span in ((one, single), (two, batch)):
        assert span.context is not None
        traceparent = (f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-"
                       f"{span.context.trace_flags:02x}")  # fmt: skip
        assert [envelopes[i].traceparent for i in result.event_ids] == [traceparent] * len(
            result.event_ids
        )
        stored = await nc.jetstream().get_msg("CASES", result.seqs[0])
        assert (stored.headers or {})["traceparent"] == traceparent
    await traced.close()


@pytest.mark.parametrize("state", [TraceState(), TraceState([("vendor", "a1"), ("other", "b2")])])
@pytest.mark.parametrize("flags", [TraceFlags(0), TraceFlags(TraceFlags.SAMPLED), TraceFlags(3)])
def test_trace_headers_are_what_the_w3c_propagator_injects(
    state: TraceState, flags: TraceFlags
) -> None:
    context = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7,
                          is_remote=False, trace_flags=flags, trace_state=state)  # fmt: skip
    span = NonRecordingSpan(context)
    injected: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(injected, trace.set_span_in_context(span))
    assert trace_headers(span) == injected
    with trace.use_span(span):
        assert trace_headers() == injected
    assert trace_headers(NonRecordingSpan(INVALID_SPAN_CONTEXT)) == {}
    assert trace_headers() == {}
