"""A webhook receiver that answers 200 to everything and counts every raw arrival."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sexto_devstack.procs import free_port


class CountingReceiver:
    """Arrivals by `webhook-id`, and the event each webhook-id carried."""

    def __init__(self) -> None:
        self.arrivals: Counter[str] = Counter()
        self.event_of: dict[str, str] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                webhook_id = self.headers.get("webhook-id") or ""
                try:
                    event = json.loads(body)
                except ValueError:
                    event = {}
                receiver.arrived(webhook_id, event)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the subscription sends."""
        return f"http://127.0.0.1:{self.port}/hook"

    def arrived(self, webhook_id: str, event: dict[str, Any]) -> None:
        """Count one arrival."""
        with self._lock:
            self.arrivals[webhook_id] += 1
            self.event_of[webhook_id] = str(event.get("id") or event.get("event_id") or "")

    def snapshot(self) -> dict[str, str]:
        """The event each webhook-id carried, as received so far."""
        with self._lock:
            return dict(self.event_of)

    def total(self) -> int:
        """Every arrival so far."""
        with self._lock:
            return sum(self.arrivals.values())

    def start(self) -> CountingReceiver:
        """Serve in a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
