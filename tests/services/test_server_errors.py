"""A server error answers a problem and leaves the connection usable: the next request on
the same keep-alive connection is answered, on a real uvicorn server."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import free_port
from sexto_evaluation.bootstrap import create_app
from sexto_service.auth.tokens import AuthSettings

from tests.support.services import service_settings


class Boom(RuntimeError):
    """A fault of our own, as a bug would raise it."""


@pytest.fixture(scope="module")
def server(
    nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> Iterator[int]:
    app: FastAPI = create_app(
        service_settings(nats_server, postgres), AuthSettings(local_key_file=issuer_key_file)
    )

    @app.get("/test-only/boom")
    async def boom() -> None:
        raise Boom("a fault that names nothing")

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline, "the server never started"
        time.sleep(0.05)
    yield port
    running.should_exit = True
    thread.join(15)


def test_a_server_error_is_a_problem_and_the_connection_stays_usable(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        connection.request("GET", "/test-only/boom", headers={"Accept-Language": "fr"})
        failed = connection.getresponse()
        body = json.loads(failed.read())

        connection.request("GET", "/healthz")  # the same connection, kept alive
        after = connection.getresponse()
        after_body = after.read()
    finally:
        connection.close()

    assert failed.status == 500
    assert failed.getheader("content-type") == "application/problem+json"
    assert body["status"] == 500
    assert "a fault" not in json.dumps(body)  # the cause stays in the server's log
    assert failed.getheader("connection") != "close"
    assert after.status == 200
    assert json.loads(after_body) == {"status": "ok"}
