"""W3C trace context across every hop: our own small NATS instrumentation (nats-py has
none), following the OpenTelemetry messaging conventions.

An append is a PRODUCER span whose context travels twice: in the NATS headers
(`traceparent`, `tracestate`) and in the envelope's `traceparent` (stored, hashed, read by
a replay years later). Each consumed event is a CONSUMER span whose parent is that
producer; a fetched batch is one span linking every producer. Attributes carry ids and
event types only: never a name, a word or anything sealed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import EventBase
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import (
    NonRecordingSpan,
    NoOpTracer,
    ProxyTracer,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
SYSTEM = "nats"
_UNSET = Status(StatusCode.UNSET)


def current_traceparent() -> str | None:
    """The traceparent of the active span, or None outside any trace."""
    return trace_headers().get("traceparent")


def trace_headers(span: trace.Span | None = None) -> dict[str, str]:
    """`traceparent` (and `tracestate`) of `span` (the active one by default), for message
    headers and envelopes: what the W3C propagator's inject writes, made straight from the
    span's context (no carrier, no context lookup)."""
    span_context = (span or trace.get_current_span()).get_span_context()
    if not span_context.is_valid:
        return {}
    headers = {
        "traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{span_context.trace_flags:02x}"
    }
    if span_context.trace_state:
        headers["tracestate"] = span_context.trace_state.to_header()
    return headers


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    """An OpenTelemetry context whose parent is the span that recorded the event."""
    if not traceparent:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent})


def producer_context(
    headers: Mapping[str, str] | None, traceparent: str | None
) -> otel_context.Context | None:
    """The producer's context of a consumed message: its headers, else its envelope's
    `traceparent` (an event written before headers carried it); None if untraced."""
    if headers and "traceparent" in headers:
        return _PROPAGATOR.extract(dict(headers))
    return context_from_traceparent(traceparent) if traceparent else None


def add_trace_ids(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the active span's `trace_id` and `span_id` on the line."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = format(span_context.trace_id, "032x")
        event_dict["span_id"] = format(span_context.span_id, "016x")
    return event_dict


@lru_cache(maxsize=512)  # the catalogue's types: a span name each, made once
def _suffix(event_type: str) -> str:
    """`org.sexto.intake.case_reported.v1` -> `intake.case_reported` (low cardinality)."""
    parts = event_type.split(".")
    return ".".join(parts[2:4]) if len(parts) >= 4 else event_type


def _unproxied(tracer: Tracer) -> Tracer | None:
    """The tracer that makes the spans: the API proxy's own choice, made at each span (the
    SDK's tracer once a provider is set, else a no-op one; the API has no public accessor,
    and `get_tracer_provider()` reads the environment at every call). None if unknown."""
    if isinstance(tracer, ProxyTracer):
        inner: Tracer | None = getattr(tracer, "_tracer", None)
        return inner
    return tracer


def makes_spans(tracer: Tracer) -> bool:
    """False for a tracer that cannot make a span: a `NoOpTracer` (what an SDK provider gives
    with OTEL_SDK_DISABLED), or the API's proxy while no SDK provider is set."""
    inner = _unproxied(tracer)
    # A later API without the proxy's attribute: a span, which is always right.
    return inner is None or not isinstance(inner, NoOpTracer)


class _Attributes(dict[str, Any]):
    """A messaging span's attributes as this module gives them: ids, types and counts,
    already clean (str, int, tuples of str) and within the provider's limits (checked at
    the start), so the SDK's `BoundedAttributes` (a lock and a check per attribute) is left
    out; `end` marks them immutable as it marks the SDK's."""

    _immutable = False


class _MessagingSpan(sdk_trace.Span):
    """The SDK's own span (its start, end, events, links, exceptions, status and export
    unchanged), constructed with only what those methods read. `Span.__init__` builds a
    bounded attribute map, an event list and a link list, each with its lock, for every
    span: in the running command loop that made our PRODUCER span cost about 80 µs of CPU a
    command, where this costs 20 to 50 (`docs/performance.md`, "Tracing cost", "Fourth look").
    Anything added later goes through the SDK's own bounded containers, made then."""

    def __init__(
        self,
        tracer: sdk_trace.Tracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        record_end_metrics: Callable[[], None] | None,
    ) -> None:
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._resource = tracer.resource
        self._instrumentation_info = tracer.instrumentation_info
        self._instrumentation_scope = tracer._instrumentation_scope
        self._limits = tracer._span_limits
        self._span_processor = tracer.span_processor
        self._sampler = tracer.sampler
        self._trace_config = None
        self._record_exception = True
        self._set_status_on_exception = True
        self._record_end_metrics = record_end_metrics
        self._lock = threading.Lock()
        self._attributes = _Attributes(attributes)
        self._events = ()
        self._links = ()
        self._status = _UNSET
        self._start_time = None
        self._end_time = None

    def _bounded_attributes(self) -> None:
        if isinstance(self._attributes, _Attributes):
            self._attributes = BoundedAttributes(
                self._limits.max_span_attributes,
                self._attributes,
                immutable=False,
                max_value_len=self._limits.max_span_attribute_length,
            )

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        with self._lock:
            self._bounded_attributes()
        super().set_attributes(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        with self._lock:
            self._bounded_attributes()
        super().set_attribute(key, value)

    def _add_event(self, event: EventBase) -> None:
        if not isinstance(self._events, BoundedList):
            self._events = BoundedList(self._limits.max_events)
        super()._add_event(event)

    def _add_link(self, link: trace.Link) -> None:
        if not isinstance(self._links, BoundedList):
            self._links = BoundedList(self._limits.max_links)
        super()._add_link(link)


def _as_given(
    limits: sdk_trace.SpanLimits, attributes: Mapping[str, Any], sampled: Mapping[str, Any]
) -> bool:
    """True when the span may keep `attributes` as they are: the sampler added or changed
    none, and the provider's limits cut none (the defaults cut nothing of ours)."""
    if len(sampled) != len(attributes) or any(sampled[k] is not v for k, v in attributes.items()):
        return False
    if limits.max_span_attribute_length is not None:
        return False
    return limits.max_span_attributes is None or len(attributes) <= limits.max_span_attributes


def _start(
    tracer: Tracer,
    name: str,
    kind: SpanKind,
    attributes: dict[str, Any],
    context: otel_context.Context | None = None,
) -> trace.Span:
    """A span of ours, started (not made current): the SDK tracer's own decisions (parent,
    ids, sampler, trace flags, tracestate, its metrics), then a `_MessagingSpan`; any other
    tracer's (a subclass's included) `start_span`. The one way this module makes a span."""
    sdk = _unproxied(tracer)
    if type(sdk) is not sdk_trace.Tracer or not sdk._is_enabled():
        return tracer.start_span(name, context=context, kind=kind, attributes=attributes)
    parent: SpanContext | None = trace.get_current_span(context).get_span_context()
    if parent is None or not parent.is_valid:
        parent = None
        trace_id = sdk.id_generator.generate_trace_id()
    else:
        trace_id = parent.trace_id
    sampled = sdk.sampler.should_sample(context, trace_id, name, kind, attributes, ())
    sampled_in = sampled.decision is Decision.RECORD_AND_SAMPLE
    flags = TraceFlags.SAMPLED if sampled_in else TraceFlags.DEFAULT
    if parent is None:
        random_trace_id = sdk.id_generator.is_trace_id_random()
    else:
        random_trace_id = parent.trace_flags.random_trace_id
    if random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    span_context = SpanContext(
        trace_id,
        sdk.id_generator.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(flags),
        trace_state=sampled.trace_state,
    )
    ended = sdk._tracer_metrics.start_span(parent, sampled.decision)
    if sampled.decision is Decision.DROP:
        return NonRecordingSpan(span_context)
    given: Mapping[str, Any] = sampled.attributes or {}
    span = _MessagingSpan(sdk, name, span_context, parent, kind, given, ended)
    if not _as_given(sdk._span_limits, attributes, given):
        span._bounded_attributes()
    span.start(parent_context=context)
    return span


@contextmanager
def producing(
    tracer: Tracer, *, subject: str, types: Sequence[str], event_ids: Sequence[str]
) -> Iterator[dict[str, str]]:
    """The PRODUCER span of one append (one event, or several as one atomic batch), every
    attribute set at its start (the ids are made before the publish); gives its
    `traceparent` (and `tracestate`), made once for the envelopes and the headers."""
    if not makes_spans(tracer):
        # A no-op span would only carry the caller's context: carry it as it is, without
        # the span's start, context attach and detach (about 9 µs an append, hot).
        yield trace_headers()
        return
    # Few attributes: each costs on every append (the subject names the territory and case).
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "send",
        "messaging.destination.name": subject,
    }
    if len(types) == 1:
        name = "send " + _suffix(types[0])
        attributes["sexto.event_type"] = types[0]
        attributes["messaging.message.id"] = event_ids[0]
    else:
        name = f"send {len(types)} events"
        # Tuples, as the SDK's attribute cleaning would make them: the span keeps them as given.
        attributes["sexto.event_types"] = tuple(types)
        attributes["sexto.event_ids"] = tuple(event_ids)
        attributes["messaging.batch.message_count"] = len(types)
    span = _start(tracer, name, SpanKind.PRODUCER, attributes)
    # Made current: the key vault's queries while sealing, and any log line, are its children.
    with trace.use_span(span, end_on_exit=True):
        yield trace_headers(span)


class Batch:
    """The span of one fetched batch; each event's producer is added as a link."""

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def link(self, parent: otel_context.Context | None) -> None:
        """Link the batch to the producer of one of its events (none if untraced)."""
        if parent is None:
            return
        span_context = trace.get_current_span(parent).get_span_context()
        if span_context.is_valid:
            self._span.add_link(span_context)


@contextmanager
def processing_batch(tracer: Tracer, *, consumer: str, stream: str) -> Iterator[Batch]:
    """The CONSUMER span of one fetched batch: a batch has no single parent, so it links
    to each event's producer; the runtime's own queries (checkpoints) run inside it."""
    attributes = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.destination.name": stream,
        "messaging.consumer.group.name": consumer,
    }
    span = _start(tracer, f"process {consumer}", SpanKind.CONSUMER, attributes)
    with trace.use_span(span, end_on_exit=True):
        yield Batch(span)


@contextmanager
def processing(
    tracer: Tracer,
    *,
    parent: otel_context.Context | None,
    consumer: str,
    subject: str,
    event_id: str,
    event_type: str,
    seq: int,
    deliveries: int,
) -> Iterator[None]:
    """The CONSUMER span of one event, child of its producer (of the batch if untraced)."""
    attributes: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": consumer,
        "messaging.message.id": event_id,
        "sexto.event_type": event_type,
        "sexto.stream_seq": seq,
        "messaging.nats.delivery_count": deliveries,
    }
    span = _start(tracer, f"process {_suffix(event_type)}", SpanKind.CONSUMER, attributes, parent)
    with trace.use_span(span, end_on_exit=True):
        yield
