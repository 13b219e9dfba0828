"""The notification service on the suite's servers, a real webhook receiver and SMTP server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import free_port
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import EscalatedStudent, EscalationRequested
from sexto_events.commands import execute, no_state
from sexto_events.model import AppendResult, CaseRef, LoadedCase, NewEvent, RecordedEvent
from sexto_events.principal import Role
from sexto_notification.bootstrap import create_app
from sexto_notification.config import NotificationSettings
from sexto_service.auth.tokens import AuthSettings

from tests.support.partner import HELPER
from tests.support.services import caught_up, service_settings
from tests.support.world import World, sexto_report


@dataclass
class LiveReceiver:
    """A partner's receiver on loopback, built on the shipped helper; can go down and fail."""

    secrets: list[str]
    port: int = field(default_factory=free_port)
    taken: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    posts: int = 0
    failing: bool = False
    # The headers of every POST, as received (lower-case names).
    headers: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def __post_init__(self) -> None:
        self.helper = HELPER.Receiver(self.secrets, lambda i, e: self.taken.append((i, e)))
        original = self.helper.handle

        def handle(headers: Any, body: bytes) -> int:
            self.posts += 1
            self.headers.append({k.lower(): v for k, v in headers.items()})
            return 503 if self.failing else int(original(headers, body))

        self.helper.handle = handle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/sexto"

    def up(self) -> None:
        server = self.helper.server("127.0.0.1", self.port)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def types_for(self, case_id: str) -> list[str]:
        return [e["type"] for _, e in self.taken if e["subject"] == case_id]


class Captured:
    """An aiosmtpd handler keeping each message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@dataclass
class Notify:
    """The notification app beside the intake world."""

    client: TestClient
    world: World
    mailbox: Captured
    made: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def runtime(self) -> Any:
        return self.client.app.state.runtime  # type: ignore[attr-defined]

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.portal.call(fn, *args)  # type: ignore[union-attr]

    def police(self, territory: str | None = None) -> dict[str, str]:
        return self.world.headers(
            Role.POLICE_DISPATCH, subject=f"disp-{uuid.uuid4().hex[:6]}",
            territory=territory or self.world.territory,
        )  # fmt: skip

    def subscribe(self, receiver: LiveReceiver, **body: Any) -> dict[str, Any]:
        payload = {"url": receiver.url, "types": ["escalation.*"], "secret": receiver.secrets[0]}
        headers = body.pop("headers", None) or self.police()
        payload.update(body)
        response = self.client.post("/v1/subscriptions", json=payload, headers=headers)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        result["headers"] = headers
        self.made.append((result["id"], headers))
        return result

    def unsubscribe_all(self) -> None:
        while self.made:
            sub_id, headers = self.made.pop()
            self.client.delete(f"/v1/subscriptions/{sub_id}", headers=headers)

    def new_case(self) -> tuple[str, list[str]]:
        """A case reported through intake, once this service knows it."""
        body = self.world.report(sexto_report(self.world.school)).json()
        case_id = body["case_id"]
        self.wait_known(case_id)
        return case_id, [s["student_ref"] for s in body["students"]]

    def wait_known(self, case_id: str) -> None:
        """Return once this service's read model has the case (reported moments ago)."""

        async def known() -> bool:
            async with self.runtime.pool.acquire() as conn:
                found = await conn.fetchval(
                    "SELECT 1 FROM notification.cases WHERE case_id = $1", case_id
                )
            return found is not None

        eventually(lambda: self.call(known), "the notification service knows the case")

    def events(self, case_id: str) -> list[RecordedEvent]:
        loaded = self.call(self.runtime.store.load, CaseRef(self.world.territory, case_id))
        return list(loaded.events)

    def append(self, case_id: str, data: EventData, role: str = "police_dispatch") -> str:
        case = CaseRef(self.world.territory, case_id)

        def decide(_: None, __: LoadedCase) -> list[NewEvent]:
            # At the case's current version: the service records deliveries on it too.
            return [NewEvent(data, "disp-1", role)]

        async def record() -> AppendResult:
            return await execute(
                self.runtime.store, case, initial=None, evolve=no_state, decide=decide
            )

        result = self.call(record)
        return str(result.event_ids[0])

    def escalate(self, case_id: str, refs: list[str]) -> str:
        return self.append(
            case_id,
            EscalationRequested(
                school_id=self.world.school, protocol="sexto-qc", urgency="high",
                students=[EscalatedStudent(student_ref=r, roles=["sender"], indication="impulsive")
                          for r in refs],
                seal_numbers=["SX-9"], intervener_ref=self.world.intervener,
                assessment_event_id=str(uuid.uuid4()),
            ),
            role="service",
        )  # fmt: skip

    def all_sent_and_settled(self, case_id: str) -> bool:
        """Every delivery of the case sent, and its row settled by the sender (its lease
        given back), which comes just after the attempt's record reached the log."""

        async def unsettled() -> int:
            async with self.runtime.pool.acquire() as conn:
                found: int = await conn.fetchval(
                    "SELECT count(*) FROM notification.deliveries WHERE case_id = $1 "
                    "AND (status <> 'sent' OR lease_token IS NOT NULL)",
                    case_id,
                )
            return found

        return bool(self.call(unsettled) == 0)

    def deliveries(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/v1/deliveries", params=params, headers=headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def notifications(self, case_id: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/v1/cases/{case_id}/notifications", headers=self.world.headers()
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found


def eventually(check: Callable[[], Any], what: str, within: float = 20.0) -> Any:
    """The first truthy result of `check`, polling; fails naming `what`."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def now_s() -> float:
    return datetime.now(UTC).timestamp()


def notification_app(
    nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path, **own: Any
) -> FastAPI:
    """The service on the suite's servers, retrying fast, calling loopback receivers."""
    settings = NotificationSettings(
        allow_insecure_urls=True, backoff_base_s=0.1, backoff_cap_s=0.4, request_timeout_s=2.0,
        **own,
    )  # fmt: skip
    return create_app(
        service_settings(nats_server, postgres),
        AuthSettings(local_key_file=issuer_key_file),
        settings,
    )


# Package scope: the service records delivery outcomes on cases, like a reactor.
@pytest.fixture(scope="package")
def notify(
    world: World, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> Iterator[Notify]:
    mailbox = Captured()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    app = notification_app(
        nats_server, postgres, issuer_key_file,
        max_attempts=6, poll_s=0.05, smtp_host="127.0.0.1", smtp_port=smtp.port,
        smtp_starttls=False, mail_from="sexto@school.example",
    )  # fmt: skip
    try:
        with TestClient(app) as client:
            caught_up(client)
            yield Notify(client, world, mailbox)
    finally:
        smtp.stop()


@pytest.fixture(autouse=True)
def _own_subscriptions(notify: Notify) -> Iterator[None]:
    """Each test's subscriptions end with it: no test receives another's deliveries."""
    yield
    notify.unsubscribe_all()
