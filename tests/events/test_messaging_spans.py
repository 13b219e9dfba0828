"""Our NATS spans are built lighter than the SDK's, yet export exactly what the SDK's own span
would: name, kind, parent, attributes, resource, scope, status, exception events and links;
and they obey the provider's sampler."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
)
from sexto_events.tracing import (
    context_from_traceparent,
    processing,
    processing_batch,
    producing,
)

SUBJECT = "cases.qc.c1.intake.org.sexto.intake.case_reported.v1"
TYPE = "org.sexto.intake.case_reported.v1"
PRODUCER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@contextmanager
def provider(**options: Any) -> Iterator[tuple[Tracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    made = TracerProvider(resource=Resource.create({"service.name": "sexto-test"}), **options)
    made.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield made.get_tracer("sexto.tests", "1.0"), exporter  # type: ignore[misc]
    finally:
        made.shutdown()


def in_parent(tracer: Tracer, body: Callable[[], None]) -> None:
    with tracer.start_as_current_span("request"):
        body()


def ours_and_sdks(
    ours: Callable[[Tracer], AbstractContextManager[Any]],
    kind: SpanKind,
    context: Any = None,
    fail: bool = False,
) -> tuple[ReadableSpan, ReadableSpan]:
    """The span `ours` exports, and what the SDK's own span exports given the same name,
    kind, attributes and parent, each inside a parent span of its own."""
    with provider() as (tracer, exporter):

        def run(cm: Callable[[], AbstractContextManager[Any]]) -> None:
            def body() -> None:
                with cm():
                    if fail:
                        raise ValueError("case c1 not found")

            if fail:
                with pytest.raises(ValueError):
                    in_parent(tracer, body)
            else:
                in_parent(tracer, body)

        run(lambda: ours(tracer))
        mine = next(s for s in exporter.get_finished_spans() if s.name != "request")
        exporter.clear()
        run(lambda: tracer.start_as_current_span(
            mine.name, context=context, kind=kind, attributes=dict(mine.attributes or {})
        ))  # fmt: skip
        sdks = next(s for s in exporter.get_finished_spans() if s.name != "request")
        parents = [s for s in exporter.get_finished_spans() if s.name == "request"]
        assert sdks.parent is not None
        if context is None:
            assert sdks.parent.span_id == parents[0].context.span_id
        return mine, sdks


def facts(attributes: Any) -> dict[str, Any]:
    """An event's attributes, the stack trace's text left out (its line numbers differ)."""
    return {k: v for k, v in dict(attributes or {}).items() if k != "exception.stacktrace"}


def same(mine: ReadableSpan, sdks: ReadableSpan, *, same_parent: bool) -> None:
    assert mine.name == sdks.name
    assert mine.kind == sdks.kind
    assert dict(mine.attributes or {}) == dict(sdks.attributes or {})
    assert mine.resource == sdks.resource
    assert mine.instrumentation_scope == sdks.instrumentation_scope
    assert (mine.status.status_code, mine.status.description) == (
        sdks.status.status_code,
        sdks.status.description,
    )
    assert [(e.name, facts(e.attributes)) for e in mine.events] == [
        (e.name, facts(e.attributes)) for e in sdks.events
    ]
    assert [(ln.context, dict(ln.attributes or {})) for ln in mine.links] == [
        (ln.context, dict(ln.attributes or {})) for ln in sdks.links
    ]
    assert (mine.dropped_attributes, mine.dropped_events, mine.dropped_links) == (
        sdks.dropped_attributes,
        sdks.dropped_events,
        sdks.dropped_links,
    )
    assert mine.context is not None
    assert sdks.context is not None
    assert mine.context.trace_flags == sdks.context.trace_flags
    assert mine.context.trace_state == sdks.context.trace_state
    assert not mine.context.is_remote
    assert mine.parent is not None
    if same_parent:
        assert sdks.parent is not None
        assert (mine.parent.trace_id, mine.parent.span_id) == (
            sdks.parent.trace_id,
            sdks.parent.span_id,
        )
    else:  # each inside its own request span
        assert mine.parent.span_id != mine.context.span_id
    assert mine.context.trace_id == mine.parent.trace_id
    assert mine.start_time is not None
    assert mine.end_time is not None
    assert mine.start_time <= mine.end_time


def test_a_producer_span_exports_what_the_sdks_own_span_would() -> None:
    def ours(tracer: Tracer) -> AbstractContextManager[Any]:
        return producing(tracer, subject=SUBJECT, types=[TYPE], event_ids=["e1"])

    mine, sdks = ours_and_sdks(ours, SpanKind.PRODUCER)
    same(mine, sdks, same_parent=False)
    assert mine.name == "send intake.case_reported"
    assert dict(mine.attributes or {}) == {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": SUBJECT,
        "sexto.event_type": TYPE,
        "messaging.message.id": "e1",
    }


def test_a_producer_span_of_several_events_keeps_its_lists_as_the_sdk_would() -> None:
    def ours(tracer: Tracer) -> AbstractContextManager[Any]:
        return producing(tracer, subject=SUBJECT, types=[TYPE, TYPE], event_ids=["e1", "e2"])

    mine, sdks = ours_and_sdks(ours, SpanKind.PRODUCER)
    same(mine, sdks, same_parent=False)
    assert dict(mine.attributes or {})["sexto.event_ids"] == ("e1", "e2")


def test_a_consumer_span_is_the_child_of_its_producer_as_the_sdks_would_be() -> None:
    parent = context_from_traceparent(PRODUCER)

    def ours(tracer: Tracer) -> AbstractContextManager[Any]:
        return processing(tracer, parent=parent, consumer="intake-cases", subject=SUBJECT,
                          event_id="e1", event_type=TYPE, seq=7, deliveries=1)  # fmt: skip

    mine, sdks = ours_and_sdks(ours, SpanKind.CONSUMER, context=parent)
    same(mine, sdks, same_parent=True)
    assert mine.parent is not None
    assert mine.parent.is_remote
    assert f"{mine.parent.span_id:016x}" == PRODUCER.split("-")[2]


def test_a_failed_consumer_span_records_the_error_as_the_sdks_would() -> None:
    parent = context_from_traceparent(PRODUCER)

    def ours(tracer: Tracer) -> AbstractContextManager[Any]:
        return processing(tracer, parent=parent, consumer="intake-cases", subject=SUBJECT,
                          event_id="e1", event_type=TYPE, seq=7, deliveries=2)  # fmt: skip

    mine, sdks = ours_and_sdks(ours, SpanKind.CONSUMER, context=parent, fail=True)
    same(mine, sdks, same_parent=True)
    assert mine.status.status_code is StatusCode.ERROR
    assert [e.name for e in mine.events] == ["exception"]
    assert (mine.events[0].attributes or {})["exception.type"] == "ValueError"


def test_a_batch_span_links_each_producer() -> None:
    with provider() as (tracer, exporter):
        with processing_batch(tracer, consumer="intake-cases", stream="CASES") as batch:
            batch.link(context_from_traceparent(PRODUCER))
            batch.link(None)
        [span] = exporter.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER
    assert span.parent is None
    assert [f"{link.context.span_id:016x}" for link in span.links] == [PRODUCER.split("-")[2]]


def test_the_providers_sampler_decides_as_for_any_span() -> None:
    with provider(sampler=ALWAYS_OFF) as (tracer, exporter):
        with producing(tracer, subject=SUBJECT, types=[TYPE], event_ids=["e1"]) as headers:
            assert not trace.get_current_span().is_recording()
        assert int(headers["traceparent"][-2:], 16) & 1 == 0  # not sampled
        assert exporter.get_finished_spans() == ()
    # Parent-based (the default): an unsampled producer's consumer is not recorded either.
    unsampled = context_from_traceparent(PRODUCER[:-2] + "00")
    with provider(sampler=ParentBased(ALWAYS_OFF)) as (tracer, exporter):
        with processing(tracer, parent=unsampled, consumer="c", subject=SUBJECT,
                        event_id="e1", event_type=TYPE, seq=1, deliveries=1):  # fmt: skip
            current = trace.get_current_span().get_span_context()
        assert f"{current.trace_id:032x}" == PRODUCER.split("-")[1]
        assert exporter.get_finished_spans() == ()


def test_a_messaging_span_has_every_field_the_sdks_own_span_has() -> None:
    """A new SDK that adds a field to its Span fails here, not on every append."""
    with provider() as (tracer, _):
        sdks = tracer.start_span("sdk")
        with producing(tracer, subject=SUBJECT, types=[TYPE], event_ids=["e1"]):
            mine = trace.get_current_span()
        sdks.end()
    assert type(mine).__mro__[1] is type(sdks).__mro__[1]  # both the SDK's Span
    assert set(vars(mine)) == set(vars(sdks))


def test_links_and_events_past_the_limits_are_dropped_as_the_sdk_drops_them() -> None:
    producers = [
        SpanContext(0xA1 + i, 0xB1 + i, is_remote=True, trace_flags=TraceFlags(1))
        for i in range(200)
    ]
    with provider() as (tracer, exporter):
        with processing_batch(tracer, consumer="intake-cases", stream="CASES") as batch:
            for producer in producers:
                batch.link(trace.set_span_in_context(NonRecordingSpan(producer)))
            for i in range(150):
                trace.get_current_span().add_event(f"e{i}")
        with tracer.start_as_current_span("process intake-cases", kind=SpanKind.CONSUMER) as span:
            for producer in producers:
                span.add_link(producer)
            for i in range(150):
                span.add_event(f"e{i}")
        mine, sdks = exporter.get_finished_spans()
    assert (len(mine.links), mine.dropped_links) == (128, 72)
    assert (len(mine.events), mine.dropped_events) == (128, 22)
    assert [ln.context for ln in mine.links] == [ln.context for ln in sdks.links]
    assert [e.name for e in mine.events] == [e.name for e in sdks.events]


def test_attribute_limits_and_later_attributes_are_applied_as_the_sdk_applies_them() -> None:
    def ours(tracer: Tracer) -> AbstractContextManager[Any]:
        @contextmanager
        def and_more() -> Iterator[None]:
            with producing(tracer, subject=SUBJECT, types=[TYPE, TYPE], event_ids=["e1", "e2"]):
                later = ["a", "b"]
                trace.get_current_span().set_attribute("later", later)
                later.append("changed after")  # the span keeps what it was given
                trace.get_current_span().set_attributes({"": "no key", "n": 3})
                yield

        return and_more()

    limited = {"span_limits": SpanLimits(max_span_attributes=4, max_span_attribute_length=10)}
    for options in ({}, limited):
        with provider(**options) as (tracer, exporter):
            with ours(tracer):
                pass
            with tracer.start_as_current_span(
                "send 2 events", kind=SpanKind.PRODUCER,
                attributes=producer_attributes(["e1", "e2"]),
            ) as span:  # fmt: skip
                later = ["a", "b"]
                span.set_attribute("later", later)
                later.append("changed after")
                span.set_attributes({"": "no key", "n": 3})
            mine, sdks = exporter.get_finished_spans()
        assert dict(mine.attributes or {}) == dict(sdks.attributes or {})
        assert mine.dropped_attributes == sdks.dropped_attributes
    assert mine.dropped_attributes > 0
    assert all(len(v) <= 10 for v in dict(mine.attributes or {}).values() if isinstance(v, str))


class Marking(Sampler):
    """A sampler of a vendor's kind: records without sampling, and adds its own mark."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        attributes = dict(args[4] or {}) if len(args) > 4 else {}
        return SamplingResult(
            self.decision,
            {**attributes, "sampler.mark": ["kept"]},
            TraceState([("vendor", "v1")]),
        )

    def get_description(self) -> str:
        return "Marking"


def test_what_a_sampler_adds_or_decides_is_kept_as_for_the_sdks_own_span() -> None:
    for decision in (Decision.RECORD_AND_SAMPLE, Decision.RECORD_ONLY):
        with provider(sampler=Marking(decision)) as (tracer, exporter):
            with producing(tracer, subject=SUBJECT, types=[TYPE], event_ids=["e1"]) as headers:
                pass
            with tracer.start_as_current_span(
                "send intake.case_reported", kind=SpanKind.PRODUCER,
                attributes=producer_attributes(["e1"]),
            ):  # fmt: skip
                pass
            spans = exporter.get_finished_spans()
        if decision is Decision.RECORD_ONLY:  # recorded, not exported
            assert spans == ()
            assert int(headers["traceparent"][-2:], 16) & 1 == 0
            continue
        mine, sdks = spans
        assert dict(mine.attributes or {}) == dict(sdks.attributes or {})
        assert dict(mine.attributes or {})["sampler.mark"] == ("kept",)
        assert mine.context is not None
        assert sdks.context is not None
        assert mine.context.trace_state == sdks.context.trace_state
        assert headers["tracestate"] == "vendor=v1"


def producer_attributes(event_ids: list[str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": SUBJECT,
    }
    if len(event_ids) == 1:
        attributes |= {"sexto.event_type": TYPE, "messaging.message.id": event_ids[0]}
    else:
        attributes |= {
            "sexto.event_types": (TYPE,) * len(event_ids),
            "sexto.event_ids": tuple(event_ids),
            "messaging.batch.message_count": len(event_ids),
        }
    return attributes
