"""Traces and structured logs of a service, configured by the standard `OTEL_*` variables.

No exporter unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, then
OTLP over http/protobuf; `OTEL_SERVICE_NAME` overrides the service's own name
(`sexto-<service>`); `OTEL_TRACES_SAMPLER(_ARG)` and `OTEL_SDK_DISABLED` are read by the
SDK itself. Spans are made even without an exporter: the events' `traceparent`, the
webhooks' header and the log lines' `trace_id` then still join what one request caused.

A process has one export pipeline; each service in it has its own tracer provider (its
own `service.name`) over that pipeline, so services run in one process (the tests) stay
apart in a trace.
"""

from __future__ import annotations

import atexit
import os
import random
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status
from sexto_events.tracing import add_trace_ids

# Query strings may carry what a caller typed (a search, a partner's token): cut before export.
URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")
# Probes and scrapes are not part of any case.
NOT_TRACED = "healthz,readyz,metrics"

_pipeline: SynchronousMultiSpanProcessor | None = None


class TelemetrySettingsRefused(ValueError):
    """An `OTEL_*` variable asks for something this build cannot do."""


# An outgoing request's path may carry a secret too (a partner's webhook address in the
# style of Slack's, /services/T…/B…/token): a CLIENT span keeps the scheme and host only.
CLIENT_PATH_ATTRIBUTES = ("http.target", "url.path")
_CUT = frozenset(URL_ATTRIBUTES + CLIENT_PATH_ATTRIBUTES)


def _url(key: str, value: Any, client: bool) -> Any:
    if not isinstance(value, str):
        return value
    if client and key in CLIENT_PATH_ATTRIBUTES:
        return ""
    if key not in URL_ATTRIBUTES:
        return value
    if key == "url.query":
        return ""
    if client:
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"  # no user, no password
    return value.split("?", 1)[0]


def redacted(span: ReadableSpan) -> ReadableSpan:
    """The span as it may leave the process: URLs without query strings (an outgoing
    request's without its path either), and an exception named by its type only (a message
    may quote what was stored or sent: a name, words). A span with none of these (a SQL
    statement, a message sent or processed) leaves as it is, not copied."""
    original = span.attributes or {}
    status = span.status
    events = span.events
    # Most spans (SQL, messages) have no URL, no event and no status message: one check.
    if not events and not status.description and _CUT.isdisjoint(original):
        return span
    client = span.kind is SpanKind.CLIENT
    cut = {k: _url(k, v, client) for k, v in original.items() if k in _CUT}
    cut = {k: v for k, v in cut.items() if v != original[k]}
    exceptions = any(e.name == "exception" for e in events)
    if not cut and not exceptions and not status.description:
        return span
    kept = [
        Event(e.name, {"exception.type": (e.attributes or {}).get("exception.type", "")},
              e.timestamp)
        if e.name == "exception" else e
        for e in events
    ]  # fmt: skip
    if status.description:
        status = Status(status.status_code, status.description.split(":", 1)[0])
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={**original, **cut},
        events=kept,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class Redacting(SpanExporter):
    """Every exporter of the process sees spans through `redacted` only."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export the redacted spans."""
        return self._inner.export([redacted(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the inner exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner exporter."""
        return self._inner.force_flush(timeout_millis)


def _exporter_from_env() -> SpanExporter | None:
    """OTLP http/protobuf when an endpoint is set; nothing otherwise (or when told `none`)."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint or os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip() == "none":
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        raise TelemetrySettingsRefused(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: only http/protobuf is available; "
            "unset it or set it to http/protobuf"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    # The exporter reads the endpoint, headers, timeout and compression from the variables.
    return OTLPSpanExporter()


# A span waits in its batch processor's queue until a batch is full. At the SDK's 512 it
# waits long enough to reach the garbage collector's oldest generation (about ten tracked
# objects a span), whose full collections, then far more frequent, walk the whole heap:
# most of what tracing cost the command loop. Batches of 64 leave before.
EXPORT_BATCH = 64


def batch_processor(exporter: SpanExporter) -> BatchSpanProcessor:
    """The batch processor of an exporter, every span redacted on the way; batches of
    `EXPORT_BATCH` unless `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` says otherwise."""
    size = None if os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else EXPORT_BATCH
    return BatchSpanProcessor(Redacting(exporter), max_export_batch_size=size)


def span_pipeline() -> SynchronousMultiSpanProcessor:
    """The process's one export pipeline, made once from the environment."""
    global _pipeline  # noqa: PLW0603 - one per process, like the SDK's own global provider
    if _pipeline is None:
        pipeline = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
        exporter = _exporter_from_env()
        if exporter is not None:
            pipeline.add_span_processor(batch_processor(exporter))
        atexit.register(pipeline.shutdown)
        _pipeline = pipeline
    return _pipeline


class OwnRandomIds(IdGenerator):
    """Trace and span ids from a generator of their own, seeded by the system: not the
    `random` module's shared state (which a test or a library may seed or watch)."""

    def __init__(self) -> None:
        self._random = random.Random()  # noqa: S311 - ids must be unique, not secret

    def generate_span_id(self) -> int:
        """A non-zero 64-bit span id."""
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        """A non-zero 128-bit trace id."""
        return self._random.getrandbits(128) or 1


def add_span_exporter(exporter: SpanExporter, *, batch: bool = False) -> None:
    """Send every span of this process to `exporter` too, redacted (an in-memory exporter
    in the tests, synchronously; a no-op one in the benchmark, in batches)."""
    processor = batch_processor(exporter) if batch else SimpleSpanProcessor(Redacting(exporter))
    span_pipeline().add_span_processor(processor)


def tracer_provider(service: str) -> TracerProvider:
    """The service's tracer provider over the process's pipeline; the first one made in a
    process is also the global one (what the asyncpg instrumentation uses)."""
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"sexto-{service}"}
    provider = TracerProvider(
        resource=Resource.create(named),
        id_generator=OwnRandomIds(),
        active_span_processor=span_pipeline(),
        shutdown_on_exit=False,  # the pipeline is shut down once, at exit
    )
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
        # Statements only, never their parameters (names and words travel as parameters).
        AsyncPGInstrumentor(capture_parameters=False).instrument(  # type: ignore[no-untyped-call]
            tracer_provider=provider
        )
    return provider


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    """A SERVER span per request, continuing the caller's `traceparent` if it sent one."""
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=NOT_TRACED,
        # The ASGI receive/send spans say nothing about a case and cost per request.
        exclude_spans=["receive", "send"],
    )


def instrument_client(client: httpx.AsyncClient, provider: TracerProvider) -> None:
    """A CLIENT span per outgoing request, its `traceparent` sent as a header."""
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


def untraced() -> AbstractContextManager[None]:
    """No spans from the instrumentations inside: a poll of the outbox, a probe or a scrape
    is no part of any case and would start a trace of its own every few seconds."""
    return suppress_instrumentation()


def configure_logs() -> None:
    """JSON log lines, each with the active span's `trace_id` and `span_id`."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(processors=processors, cache_logger_on_first_use=False)
