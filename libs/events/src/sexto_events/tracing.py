"""W3C trace context across every hop: our own small NATS instrumentation (nats-py has
none), following the OpenTelemetry messaging conventions.

An append is a PRODUCER span whose context travels twice: in the NATS headers
(`traceparent`, `tracestate`) and in the envelope's `traceparent` (stored, hashed, read by
a replay years later). Each consumed event is a CONSUMER span whose parent is that
producer; a fetched batch is one span linking every producer. Attributes carry ids and
event types only: never a name, a word or anything sealed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, ProxyTracer, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
SYSTEM = "nats"


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


def _suffix(event_type: str) -> str:
    """`org.sexto.intake.case_reported.v1` -> `intake.case_reported` (low cardinality)."""
    parts = event_type.split(".")
    return ".".join(parts[2:4]) if len(parts) >= 4 else event_type


def makes_spans(tracer: Tracer) -> bool:
    """False for a tracer that cannot make a span: a `NoOpTracer` (what an SDK provider gives
    with OTEL_SDK_DISABLED), or the API's proxy while no SDK provider is set."""
    if isinstance(tracer, ProxyTracer):
        # The proxy's own choice, made at each span: the SDK's tracer once a provider is set,
        # else a no-op one (the API has no public accessor; `get_tracer_provider()` reads the
        # environment at every call).
        inner = getattr(tracer, "_tracer", None)
        if inner is None:
            return True  # a later API without this attribute: a span, which is always right
        tracer = inner
    return not isinstance(tracer, NoOpTracer)


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
        attributes["sexto.event_types"] = list(types)
        attributes["sexto.event_ids"] = list(event_ids)
        attributes["messaging.batch.message_count"] = len(types)
    span = tracer.start_span(name, kind=SpanKind.PRODUCER, attributes=attributes)
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
    with tracer.start_as_current_span(
        f"process {consumer}", kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
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
    with tracer.start_as_current_span(
        f"process {_suffix(event_type)}", context=parent, kind=SpanKind.CONSUMER,
        attributes=attributes,
    ):  # fmt: skip
        yield
