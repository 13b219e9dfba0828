"""Spans of the services running in this process, as an exporter would receive them."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sexto_service.telemetry import add_span_exporter


class Recorder(InMemorySpanExporter):
    """An in-memory exporter that keeps spans only while a test records (the process's
    pipeline has no way to remove an exporter, and other tests make many spans)."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.recording:
            return SpanExportResult.SUCCESS
        return super().export(spans)


_lock = threading.Lock()
_recorder: Recorder | None = None


def recorder() -> Recorder:
    """The process's recorder, added to the services' export pipeline once."""
    global _recorder  # noqa: PLW0603
    with _lock:
        if _recorder is None:
            _recorder = Recorder()
            add_span_exporter(_recorder)
        return _recorder


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name", "?"))


def tree(spans: Sequence[ReadableSpan], trace_id: int) -> str:
    """One trace as an indented tree: service, span name (kind), duration; the SQL
    statements under one span are counted on one line, under its service (the asyncpg
    instrumentation is one per process: in-process services share its provider)."""
    mine = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    children: dict[int | None, list[ReadableSpan]] = {}
    ids = {s.context.span_id for s in mine if s.context is not None}
    for span in sorted(mine, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent is not None else None
        children.setdefault(parent if parent in ids else None, []).append(span)
    lines: list[str] = []

    def walk(span: ReadableSpan, depth: int) -> None:
        ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        kind = span.kind.name.lower() if span.kind is not SpanKind.INTERNAL else "internal"
        links = f", {len(span.links)} links" if span.links else ""
        lines.append(
            f"{'  ' * depth}{service_of(span):<26} {span.name} ({kind}{links}) {ms:.1f} ms"
        )
        below = children.get(span.context.span_id if span.context else None, [])
        sql = [c for c in below if c.attributes and "db.system" in c.attributes]
        if sql:
            total = sum(((c.end_time or 0) - (c.start_time or 0)) / 1e6 for c in sql)
            lines.append(
                f"{'  ' * (depth + 1)}{service_of(span):<26} {len(sql)} SQL statements "
                f"(client) {total:.1f} ms"
            )
        for child in below:
            if child not in sql:
                walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return "\n".join(lines)
