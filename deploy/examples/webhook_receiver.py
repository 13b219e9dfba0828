"""Receiving sexto webhooks: verify each delivery, take each event once. Standard library only.

Copy this file into your integration, or run it as a small receiver:

    python deploy/examples/webhook_receiver.py --port 9100 --secret whsec_... [--secret whsec_...]

Deliveries follow the Standard Webhooks convention (https://www.standardwebhooks.com):

- `webhook-id` - the delivery's id; the same on every retry of that delivery.
- `webhook-timestamp` - when this attempt was signed (Unix seconds).
- `webhook-signature` - space-separated `v1,<base64 HMAC-SHA256>` over
  `<id>.<timestamp>.<body>` with the secret (the bytes after `whsec_`, base64-decoded).
  While a secret is being rotated, two signatures come: accept if any matches any secret
  you hold.

Reject a delivery whose signature does not match (tampered body, wrong secret) or whose
timestamp is outside the tolerance (a replayed old delivery). Answer 2xx once you have
stored the event; anything else (or no answer) makes sexto retry with backoff. Retries
carry the same `webhook-id`: keep the ids you have taken and answer 2xx to a repeat without
acting again, so each event counts once.

The body is a structured CloudEvent (`content-type: application/cloudevents+json`). Each
delivery also carries the W3C `traceparent` of sexto's attempt: with the OpenTelemetry SDK
installed (optional), the receiver's span continues that trace, so the partner's handling
shows in the same trace as the case; without it nothing changes.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:  # optional: continue sexto's trace when OpenTelemetry is installed
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # standard library only: deliveries are verified all the same
    otel_trace = None  # type: ignore[assignment]

DEFAULT_TOLERANCE_S = 300
MAX_BODY = 1024 * 1024  # sexto's events are a few kilobytes


class InvalidDelivery(Exception):
    """The delivery is not from sexto, was altered, or is too old or too new."""


def _key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a secret is whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<signature>` of one delivery under one secret."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The event of a genuine, fresh delivery; raises InvalidDelivery otherwise."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise InvalidDelivery("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidDelivery("webhook-timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidDelivery("webhook-timestamp is outside the tolerance (stale or replayed)")
    offered = []
    for part in signatures.split():
        version, _, value = part.partition(",")
        if version == "v1" and value:
            offered.append(value)
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body).partition(",")[2]
        if any(hmac.compare_digest(expected, value) for value in offered):
            try:
                event: dict[str, Any] = json.loads(body)
            except ValueError:
                raise InvalidDelivery("the body is not JSON") from None
            return event
    raise InvalidDelivery("no signature matches: altered body or wrong secret")


class KeepAliveServer(ThreadingHTTPServer):
    """A threaded HTTP server that, once closed, also closes the connections it keeps open
    (as a stopped process would): a sender then reaches whatever listens next."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            held, self._open = list(self._open), set()
        for conn in held:
            with contextlib.suppress(OSError):  # closed by the other end meanwhile
                conn.shutdown(socket.SHUT_RDWR)


class Receiver:
    """Takes verified deliveries once each (by webhook-id) and hands them to `on_event`."""

    def __init__(
        self,
        secrets: list[str],
        on_event: Callable[[str, dict[str, Any]], None],
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        tracer: Any = None,
    ) -> None:
        """`tracer`: an OpenTelemetry tracer (default: the global one, when installed)."""
        self.secrets = secrets
        self.on_event = on_event
        self.tolerance_s = tolerance_s
        self.seen: set[str] = set()  # keep this in your database in production
        self.rejected = 0
        self._lock = threading.Lock()
        if tracer is None and otel_trace is not None:
            tracer = otel_trace.get_tracer("sexto.webhook_receiver")
        self.tracer = tracer

    def handle(self, headers: Mapping[str, str], body: bytes) -> int:
        """The HTTP status to answer, in a span continuing the sender's `traceparent`."""
        if self.tracer is None:
            return self._handle(headers, body)
        lower = {k.lower(): v for k, v in headers.items()}
        parent = TraceContextTextMapPropagator().extract(lower)
        with self.tracer.start_as_current_span(
            "receive sexto webhook", context=parent, kind=SpanKind.SERVER,
            attributes={"webhook.id": lower.get("webhook-id", "")},
        ) as span:  # fmt: skip
            status = self._handle(headers, body)
            span.set_attribute("http.response.status_code", status)
            return status

    def _handle(self, headers: Mapping[str, str], body: bytes) -> int:
        try:
            event = verify(self.secrets, headers, body, self.tolerance_s)
        except InvalidDelivery:
            with self._lock:
                self.rejected += 1
            return 400
        msg_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        with self._lock:
            if msg_id in self.seen:
                return 200  # a retry of what we already have: acknowledge, do nothing
            self.on_event(msg_id, event)
            self.seen.add(msg_id)
        return 204

    def server(self, host: str, port: int) -> KeepAliveServer:
        """An HTTP server answering POSTs with `handle`."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # Persistent connections: sexto's next delivery reuses the connection instead of
            # opening one per delivery (each answer says its length, so the next can follow).
            protocol_version = "HTTP/1.1"
            timeout = 60  # seconds an idle connection is kept open

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("content-length") or "")
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    status = 413  # no length, or too long: not read at all
                    self.close_connection = True
                else:
                    body = self.rfile.read(length)
                    status = receiver.handle(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                """Quiet: requests are not logged."""

        return KeepAliveServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive and verify sexto webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--secret", action="append", required=True, help="repeat during rotation")
    args = parser.parse_args()

    def show(msg_id: str, event: dict[str, Any]) -> None:
        print(f"{msg_id} {event.get('type')} case={event.get('subject')}", flush=True)

    Receiver(args.secret, show).server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
