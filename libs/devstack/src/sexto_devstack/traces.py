"""`make traces`: a small OTLP/HTTP trace receiver on loopback that prints one line per
span, for `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make run` on a machine
with only Python (any real collector, Jaeger or an OpenTelemetry Collector, does more).

    trace 4bf92f35…  sexto-intake        POST /v1/cases (server)  12.3 ms
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

MAX_BODY = 16 * 1024 * 1024
KINDS = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client",
         Span.SPAN_KIND_PRODUCER: "producer", Span.SPAN_KIND_CONSUMER: "consumer",
         Span.SPAN_KIND_INTERNAL: "internal"}  # fmt: skip


def span_lines(request: ExportTraceServiceRequest) -> list[str]:
    """One line per span of an export request: trace, service, name (kind), duration."""
    lines = []
    for resource_spans in request.resource_spans:
        names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        service = names.get("service.name", "?")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                kind = KINDS.get(span.kind, "unspecified")
                lines.append(
                    f"trace {span.trace_id.hex()[:8]}…  {service:<20} {span.name} ({kind})"
                    f"  {ms:.1f} ms"
                )
    return lines


class TraceSink:
    """Receives OTLP/HTTP protobuf exports on `/v1/traces`; keeps and shows each request."""

    def __init__(self, port: int, show: Callable[[str], None] = print) -> None:
        self.requests: list[tuple[str, ExportTraceServiceRequest]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if self.path != "/v1/traces" or not 0 < length <= MAX_BODY:
                    self.send_response(404 if self.path != "/v1/traces" else 413)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(length))
                sink.requests.append((self.headers.get("content-type", ""), request))
                for line in span_lines(request):
                    show(line)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                """Quiet: the spans are the output."""

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def start(self) -> TraceSink:
        """Serve in a background thread."""
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the spans sent to an OTLP/HTTP endpoint.")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    sink = TraceSink(args.port, lambda line: print(line, flush=True))
    print(
        f"receiving traces on http://127.0.0.1:{args.port}; start the stack with\n"
        f"  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{args.port} make run",
        flush=True,
    )
    try:
        sink.server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
