"""Tracing configured by the standard OTEL_* variables: no exporter unless an endpoint is
set, then OTLP over http/protobuf (received by `make traces`' receiver and decoded);
the service's own name unless OTEL_SERVICE_NAME; the sampler the variables name."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator, Sequence

import asyncpg
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import free_port
from sexto_devstack.traces import TraceSink
from sexto_events.db import create_pool
from sexto_service import telemetry
from sexto_service.runtime import freeze_start_up
from sexto_service.telemetry import Redacting, TelemetrySettingsRefused, tracer_provider

from tests.support.tracing import recorder


@pytest.fixture
def collector() -> Iterator[TraceSink]:
    """`make traces`' receiver: OTLP/HTTP protobuf, decoded."""
    shown: list[str] = []
    sink = TraceSink(free_port(), shown.append).start()
    sink.shown = shown  # type: ignore[attr-defined]
    yield sink
    sink.stop()


def test_without_an_endpoint_there_is_no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert telemetry._exporter_from_env() is None


def test_an_exporter_told_none_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert telemetry._exporter_from_env() is None


def test_a_protocol_this_build_cannot_speak_is_refused_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(TelemetrySettingsRefused, match="http/protobuf"):
        telemetry._exporter_from_env()


def test_with_an_endpoint_spans_go_out_as_otlp_http_protobuf_redacted(
    monkeypatch: pytest.MonkeyPatch, collector: TraceSink
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    # Made first: the process's pipeline (made once, at first use) must not take this
    # test's endpoint for the rest of the session.
    resource = tracer_provider("intake").resource
    port = collector.server.server_address[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    exporter = telemetry._exporter_from_env()
    assert isinstance(exporter, OTLPSpanExporter)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(Redacting(exporter)))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(
        "POST /v1/cases", attributes={"http.url": "http://x/v1/cases?q=Invented+Name"}
    ):
        pass
    # A webhook request: a Slack-style address carries the partner's token in its path.
    hook = "https://user:pw@hooks.example.org:8443/services/T0/B0/tok3nInvented?x=1"
    with tracer.start_as_current_span(
        "POST", kind=SpanKind.CLIENT,
        attributes={"url.full": hook, "http.url": hook, "url.path": "/services/T0/B0/tok3n"},
    ):  # fmt: skip
        pass
    provider.shutdown()

    ((content_type, request), (_, client_request)) = collector.requests
    assert content_type == "application/x-protobuf"
    (resource_spans,) = request.resource_spans
    names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert names["service.name"] == "sexto-intake"
    (span,) = resource_spans.scope_spans[0].spans
    assert span.name == "POST /v1/cases"
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes["http.url"] == "http://x/v1/cases"
    (client_span,) = client_request.resource_spans[0].scope_spans[0].spans
    sent = {a.key: a.value.string_value for a in client_span.attributes}
    assert sent["url.full"] == sent["http.url"] == "https://hooks.example.org:8443"
    assert sent["url.path"] == ""
    assert "tok3n" not in str(client_request)
    line, _ = collector.shown  # type: ignore[attr-defined]
    assert "sexto-intake" in line
    assert "POST /v1/cases (internal)" in line


def test_otel_service_name_overrides_the_service_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "sexto-intake-eu-1")
    assert tracer_provider("intake").resource.attributes["service.name"] == "sexto-intake-eu-1"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    assert tracer_provider("intake").resource.attributes["service.name"] == "sexto-intake"


def test_the_sampler_is_the_one_the_variables_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    off = tracer_provider("evaluation").get_tracer("tests")
    with off.start_as_current_span("dropped") as span:
        assert not span.is_recording()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    on = tracer_provider("evaluation").get_tracer("tests")
    with on.start_as_current_span("kept") as span:
        assert span.is_recording()


def test_log_lines_carry_the_active_trace_and_span_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure_logs()
    tracer = tracer_provider("escalation").get_tracer("tests")
    with tracer.start_as_current_span("request") as span:
        structlog.get_logger("tests").info("something happened", case_id="c-1")
        context = span.get_span_context()
    structlog.get_logger("tests").info("outside any span")
    inside, outside = capsys.readouterr().out.strip().splitlines()[-2:]
    assert f'"trace_id": "{context.trace_id:032x}"' in inside
    assert f'"span_id": "{context.span_id:016x}"' in inside
    assert "trace_id" not in outside


def test_ids_come_from_a_generator_of_their_own_not_the_shared_random_state() -> None:
    tracer = tracer_provider("intake").get_tracer("tests")
    ids = []
    for _ in range(2):
        random.seed(7)  # a test or a library seeding the shared state changes nothing
        with tracer.start_as_current_span("one") as span:
            ids.append(span.get_span_context().trace_id)
    assert ids[0] != ids[1]


async def statements_of(pool: asyncpg.Pool) -> list[str]:
    """The SQL spans of two borrows of one pooled connection."""
    tracer_provider("intake")  # the first provider of the process instruments asyncpg
    spans = recorder()
    spans.clear()
    spans.recording = True
    try:
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 1")
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 2")
    finally:
        await pool.close()
        spans.recording = False
    statements = [
        str((s.attributes or {}).get("db.statement", "")) for s in spans.get_finished_spans()
    ]
    spans.clear()
    return statements


async def test_a_connection_given_back_to_the_pool_makes_no_span(
    postgres: EmbeddedPostgres,
) -> None:
    # asyncpg's own reset is a traced statement per borrow...
    default = await statements_of(await asyncpg.create_pool(postgres.dsn, min_size=1, max_size=1))
    assert any("RESET ALL" in s for s in default)
    # ...the services' pools run none (sexto_events.db.create_pool): only the case's own.
    ours = await statements_of(await create_pool(postgres.dsn, min_size=1, max_size=1))
    assert ours == ["SELECT 1", "SELECT 2"]


def test_a_span_with_nothing_to_cut_leaves_as_it_is_and_one_with_a_query_is_cut() -> None:
    tracer = tracer_provider("intake").get_tracer("tests")
    with tracer.start_as_current_span(
        "SELECT", kind=SpanKind.CLIENT, attributes={"db.statement": "SELECT 1"}
    ) as plain:
        pass
    with tracer.start_as_current_span(
        "GET /v1/cases", kind=SpanKind.SERVER, attributes={"http.target": "/v1/cases?q=Invented"}
    ) as queried:
        pass
    assert isinstance(plain, ReadableSpan)
    assert isinstance(queried, ReadableSpan)
    assert telemetry.redacted(plain) is plain
    shown = telemetry.redacted(queried)
    assert shown is not queried
    assert dict(shown.attributes or {}) == {"http.target": "/v1/cases"}


class Batches(SpanExporter):
    """Counts the spans of each export call."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.sizes.append(len(spans))
        return SpanExportResult.SUCCESS


def exported_batches(count: int) -> list[int]:
    batches = Batches()
    provider = TracerProvider()
    provider.add_span_processor(telemetry.batch_processor(batches))
    tracer = provider.get_tracer("tests")
    for _ in range(count):
        with tracer.start_as_current_span("one"):
            pass
    provider.shutdown()
    return batches.sizes


def test_spans_leave_in_small_batches_unless_the_variable_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A span waits for its batch: small batches leave before the collector's oldest
    # generation takes them (see telemetry.EXPORT_BATCH).
    monkeypatch.delenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", raising=False)
    sizes = exported_batches(300)
    assert sum(sizes) == 300
    assert max(sizes) <= telemetry.EXPORT_BATCH
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "300")
    assert exported_batches(300) == [300]


def test_a_request_is_one_server_span_without_asgi_send_and_receive_spans() -> None:
    provider = tracer_provider("intake")
    app = FastAPI()
    inner = provider.get_tracer("tests")

    @app.get("/v1/ping")
    def ping() -> dict[str, str]:
        with inner.start_as_current_span("inside the route"):
            return {"ok": "yes"}

    telemetry.instrument_app(app, provider)
    spans = recorder()
    spans.clear()
    spans.recording = True
    try:
        assert TestClient(app).get("/v1/ping").status_code == 200
    finally:
        spans.recording = False
    found = spans.get_finished_spans()
    spans.clear()
    server, route = (
        next(s for s in found if s.kind is SpanKind.SERVER),
        next(s for s in found if s.name == "inside the route"),
    )
    assert server.name == "GET /v1/ping"
    assert not [s for s in found if s.name.endswith((" http send", " http receive"))]
    assert route.parent is not None
    assert server.context is not None
    assert route.parent.span_id == server.context.span_id


def test_start_up_is_frozen_once_per_process() -> None:
    freeze_start_up()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    made_since: list[list[int]] = [
        [] for _ in range(1000)
    ]  # tracked objects, not frozen by a second call
    freeze_start_up()
    # Frozen objects may be freed meanwhile (the count then falls): a second freeze would
    # add these thousand, and would take them out of the collector's generations.
    assert gc.get_freeze_count() < frozen + len(made_since)
    assert any(o is made_since for o in gc.get_objects())


def test_a_status_message_without_url_or_exception_is_still_cut() -> None:
    tracer = tracer_provider("intake").get_tracer("tests")
    with tracer.start_as_current_span("process", kind=SpanKind.CONSUMER) as failed:
        failed.set_status(Status(StatusCode.ERROR, "RuntimeError: Orvald Pennywhistle"))
    assert isinstance(failed, ReadableSpan)
    shown = telemetry.redacted(failed)
    assert shown is not failed
    assert shown.status.description == "RuntimeError"
