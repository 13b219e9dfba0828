"""The evaluation service beside the intake service, on the same real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    # Each case's school staff and territory: a UK-path case is the English school's.
    cases: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)

    def report(self, **changes: Any) -> tuple[str, list[str]]:
        """Report a case through intake (a UK-path one at the English school, by its DSL);
        wait until its grids are open here."""
        world = self.world
        if changes.get("protocol") == "uk-dsl":
            headers, school, territory = world.dsl_headers(), world.uk_school, world.uk_territory
        else:
            headers, school, territory = world.headers(), world.school, world.territory
        made = world.report(sexto_report(school, **changes), headers=headers)
        assert made.status_code == 201, made.text
        body = made.json()
        case_id = body["case_id"]
        self.cases[case_id] = (headers, territory)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            response = self.assessment(case_id)
            if response.status_code == 200 and self.opened(case_id):
                return case_id, [s["student_ref"] for s in body["students"]]
            time.sleep(0.05)
        raise AssertionError("the evaluation never saw the case")

    def opened(self, case_id: str) -> bool:
        return any(e.envelope.type.endswith("grids_opened.v1") for e in self.events(case_id))

    def staff(self, case_id: str) -> dict[str, str]:
        """The headers of the school staff of this case."""
        return self.cases.get(case_id, (self.world.headers(), ""))[0]

    def put_grid(self, case_id: str, ref: str, body: dict[str, Any], **kw: Any) -> Any:
        headers = kw.pop("headers", self.staff(case_id))
        return self.client.put(f"/v1/cases/{case_id}/grids/{ref}", json=body, headers=headers)

    def assessment(self, case_id: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(
            f"/v1/cases/{case_id}/assessment", headers=headers or self.staff(case_id)
        )

    def events(self, case_id: str) -> list[RecordedEvent]:
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        territory = self.cases.get(case_id, ({}, self.world.territory))[1]
        case = CaseRef(territory, case_id)
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
