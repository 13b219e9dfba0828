"""The evaluation service beside the intake service, on the same real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_evaluation.bootstrap import create_app
from sexto_events.model import CaseRef, RecordedEvent
from sexto_service.auth.tokens import AuthSettings

from tests.intake.conftest import World, sexto_report
from tests.support.services import caught_up, service_settings


@dataclass
class Evaluation:
    """The evaluation app and the intake world that reports cases to it."""

    client: TestClient
    world: World

    def report(self, **changes: Any) -> tuple[str, list[str]]:
        """Report a case through intake; wait until its grids are open here."""
        body = self.world.report(sexto_report(self.world.school, **changes)).json()
        case_id = body["case_id"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            response = self.assessment(case_id)
            if response.status_code == 200 and self.opened(case_id):
                return case_id, [s["student_ref"] for s in body["students"]]
            time.sleep(0.05)
        raise AssertionError("the evaluation never saw the case")

    def opened(self, case_id: str) -> bool:
        return any(e.envelope.type.endswith("grids_opened.v1") for e in self.events(case_id))

    def put_grid(self, case_id: str, ref: str, body: dict[str, Any], **kw: Any) -> Any:
        headers = kw.pop("headers", self.world.headers())
        return self.client.put(f"/v1/cases/{case_id}/grids/{ref}", json=body, headers=headers)

    def assessment(self, case_id: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(
            f"/v1/cases/{case_id}/assessment", headers=headers or self.world.headers()
        )

    def events(self, case_id: str) -> list[RecordedEvent]:
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        case = CaseRef(self.world.territory, case_id)
        return list(self.client.portal.call(runtime.store.load, case).events)  # type: ignore[union-attr]


# Package scope: the service's reactor appends to every reported case, so it must not
# outlive the evaluation tests and add events under the other tests' feet.
@pytest.fixture(scope="package")
def evaluation(
    world: World, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> Iterator[Evaluation]:
    settings = service_settings(nats_server, postgres)
    app = create_app(settings, AuthSettings(local_key_file=issuer_key_file))
    with TestClient(app) as client:
        caught_up(client)
        yield Evaluation(client, world)
