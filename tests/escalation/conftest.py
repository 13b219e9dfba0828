"""Intake, evaluation and escalation together: the whole path from report to decision."""

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
from sexto_escalation.bootstrap import create_app as escalation_app
from sexto_evaluation.bootstrap import create_app as evaluation_app
from sexto_events.principal import Role
from sexto_service.auth.tokens import AuthSettings

from tests.evaluation.conftest import Evaluation
from tests.evaluation.test_grids import DEPICTED, IMPULSIVE, MALICIOUS
from tests.support.services import caught_up, service_settings
from tests.support.world import World


@dataclass
class Path3:
    """The three services, and helpers to walk a case to the police."""

    evaluation: Evaluation
    police: TestClient

    @property
    def world(self) -> World:
        return self.evaluation.world

    def police_headers(
        self, territory: str | None = None, role: Role = Role.POLICE_DISPATCH
    ) -> dict[str, str]:
        return self.world.headers(
            role, subject="disp-1", territory=territory or self.world.territory
        )

    def escalated_case(self, seals: tuple[str, ...] = ("SX-1", "SX-2")) -> tuple[str, list[str]]:
        """A SEXTO case with sealed phones, its grids in, escalated to the police."""
        case_id, refs = self.evaluation.report()
        for seal, ref in zip(seals, refs, strict=False):
            response = self.world.client.post(
                f"/v1/cases/{case_id}/devices",
                json={"owner_ref": ref, "measure": "switched_off", "seal_number": seal},
                headers=self.world.headers(),
            )
            assert response.status_code == 201, response.text
        for index, ref in enumerate(refs):
            # The report's students: depicted (so their grid says), sender, redistributor.
            answers = DEPICTED if index == 0 else MALICIOUS if index == 1 else IMPULSIVE
            assert self.evaluation.put_grid(case_id, ref, {"answers": answers}).status_code == 201
        self.wait_for_escalation(case_id)
        return case_id, refs

    def territory_of(self, case_id: str) -> str:
        """The case's territory (a UK-path case is the English school's)."""
        return self.evaluation.cases.get(case_id, ({}, self.world.territory))[1]

    def wait_for_escalation(self, case_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        headers = self.police_headers(self.territory_of(case_id))
        while time.monotonic() < deadline:
            queue = self.police.get("/v1/escalations", headers=headers).json()
            found: list[dict[str, Any]] = [e for e in queue if e["case_id"] == case_id]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError("the case was never escalated")

    def step(
        self, case_id: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        return self.police.post(
            f"/v1/escalations/{case_id}/{path}",
            json=body,
            headers=headers or self.police_headers(self.territory_of(case_id)),
        )


@pytest.fixture(scope="package")
def path3(
    world: World, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> Iterator[Path3]:
    settings = service_settings(nats_server, postgres)
    auth = AuthSettings(local_key_file=issuer_key_file)
    with (
        TestClient(evaluation_app(settings, auth)) as ev,
        TestClient(escalation_app(settings, auth)) as esc,
    ):
        caught_up(ev)
        caught_up(esc)
        yield Path3(Evaluation(ev, world), esc)
