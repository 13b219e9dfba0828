"""The integration contract: the AsyncAPI document and the example subscriber."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import environ, free_port, spawn, stop, wait_for_port
from sexto_events.principal import Role

from tests.conftest import MASTER_KEY
from tests.escalation.conftest import Path3

ROOT = Path(__file__).resolve().parents[2]


def refs_resolve(document: dict[str, Any], node: Any) -> bool:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            target: Any = document
            for part in ref.removeprefix("#/").split("/"):
                if part not in target:
                    return False
                target = target[part]
        return all(refs_resolve(document, v) for v in node.values())
    if isinstance(node, list):
        return all(refs_resolve(document, v) for v in node)
    return True


def test_the_asyncapi_document_describes_what_police_consume(path3: Path3) -> None:
    document = path3.police.get("/asyncapi.json").json()

    assert document["asyncapi"] == "3.0.0"
    channel = document["channels"]["escalation.requested"]
    assert channel["address"] == "cases.{territory}.{case}.escalation.requested"
    payload = document["components"]["messages"]["EscalationRequested"]["payload"]
    assert payload["properties"]["type"] == {"const": "org.sexto.escalation.requested.v2"}
    message = document["components"]["messages"]["EscalationRequested"]
    assert message["contentType"] == "application/cloudevents+json"
    assert set(message["headers"]["properties"]) == {"traceparent", "tracestate"}
    assert "seal_numbers" in document["components"]["schemas"]["EscalationRequested"]["properties"]
    assert refs_resolve(document, document)
    # Every later assessment is followed: police subscribe to the change too.
    changed = document["components"]["schemas"]["EscalationUrgencyChanged"]["properties"]
    assert {"previous_urgency", "urgency", "students", "assessment_event_id"} <= set(changed)
    assert "escalation.urgency_changed" in document["channels"]
    assert "escalation.support_offered" in document["channels"]


def test_the_example_subscriber_follows_its_territory_and_reports_back(
    path3: Path3, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    case_id, _ = path3.escalated_case()
    port = free_port()
    env = environ(
        SEXTO_NATS_URL=nats_server.url,
        SEXTO_DATABASE_URL=postgres.dsn,
        SEXTO_MASTER_KEY=base64.b64encode(MASTER_KEY).decode(),
        SEXTO_AUTH_LOCAL_KEY_FILE=str(issuer_key_file),
    )
    service = spawn(
        [sys.executable, "-m", "uvicorn", "--factory", "sexto_escalation.bootstrap:create_app",
         "--port", str(port)],
        log=tmp_path / "escalation.log", env=env,
    )  # fmt: skip
    try:
        wait_for_port(port, service, tmp_path / "escalation.log", timeout=60)
        token = path3.world.token(
            Role.POLICE_DISPATCH, subject="dispatch-example", territory=path3.world.territory
        )
        done = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "examples" / "police_subscriber.py"),
             "--nats", nats_server.url, "--territory", path3.world.territory,
             "--api", f"http://127.0.0.1:{port}", "--token", token, "--exit-after-idle", "6"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        stop(service)

    assert done.returncode == 0, done.stderr
    assert f"escalation {case_id}" in done.stdout, done.stdout
    assert "Maëlle" not in done.stdout
    acknowledged = [
        e for e in path3.evaluation.events(case_id) if e.envelope.type.endswith("acknowledged.v1")
    ]
    assert [e.envelope.actor for e in acknowledged] == ["dispatch-example"], done.stdout
