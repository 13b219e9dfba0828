"""Deadlines: one overdue event per breach, also across a restart of the service."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_escalation.bootstrap import create_app
from sexto_escalation.config import EscalationSettings
from sexto_service.auth.tokens import AuthSettings

from tests.escalation.conftest import Path3
from tests.support.services import service_settings

SHORT = EscalationSettings(
    acknowledge_within_s={"urgent": 0.5, "high": 0.5, "routine": 0.5},
    collect_kit_within_s={"urgent": 1.0, "high": 1.0, "routine": 1.0},
    check_every_s=0.2,
)


def overdue_steps(path3: Path3, case_id: str) -> list[str]:
    return [
        e.data.step  # type: ignore[attr-defined]
        for e in path3.evaluation.events(case_id)
        if e.envelope.type.endswith("escalation.overdue.v1")
    ]


def test_an_overdue_event_fires_once_per_breach_across_a_restart(
    path3: Path3, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> None:
    settings = service_settings(nats_server, postgres)
    auth = AuthSettings(local_key_file=issuer_key_file)
    case_id, _ = path3.escalated_case()

    with TestClient(create_app(settings, auth, SHORT)):
        deadline = time.monotonic() + 20
        while sorted(overdue_steps(path3, case_id)) != ["acknowledge", "collect_kit"]:
            assert time.monotonic() < deadline, overdue_steps(path3, case_id)
            time.sleep(0.1)

    with TestClient(create_app(settings, auth, SHORT)):  # a restart: deadlines re-armed
        time.sleep(1.5)  # several check rounds

    assert sorted(overdue_steps(path3, case_id)) == ["acknowledge", "collect_kit"]
