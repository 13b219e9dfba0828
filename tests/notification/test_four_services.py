"""One case through all four services on the real stack: reported (intake), graded
(evaluation), escalated and decided (escalation), told to the police by webhook
(notification); the history, the queue, the deliveries and what each role sees."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
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

from tests.evaluation.test_grids import IMPULSIVE, MALICIOUS
from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_webhooks import secret
from tests.support.services import caught_up, service_settings
from tests.support.world import sexto_report

NAME = "Oriane Vasquez-Test"


@pytest.fixture(scope="module")
def services(
    notify: Notify, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> Iterator[tuple[TestClient, TestClient]]:
    settings = service_settings(nats_server, postgres)
    auth = AuthSettings(local_key_file=issuer_key_file)
    with (
        TestClient(evaluation_app(settings, auth)) as evaluation,
        TestClient(escalation_app(settings, auth)) as escalation,
    ):
        caught_up(evaluation)
        caught_up(escalation)
        yield evaluation, escalation


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(what)


def test_a_case_through_the_four_services_is_right_for_each_role(
    notify: Notify, services: tuple[TestClient, TestClient]
) -> None:
    evaluation, escalation = services
    world = notify.world
    police = notify.police()
    prosecutor = world.headers(Role.PROSECUTOR, subject="dpcp-1", territory=world.territory)
    analyst = world.headers(Role.ANALYST, subject="an-1")
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        notify.subscribe(receiver, headers=police)
        # Intake: the report names the students; the names are sealed.
        body = sexto_report(world.school)
        body["students"][0]["name"] = NAME
        made = world.report(body)
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        refs = [s["student_ref"] for s in made.json()["students"]]
        world.wait_for_case(case_id, min_version=made.json()["version"])  # intake's view
        for seal, ref in zip(("SX-71", "SX-72"), refs, strict=False):
            sealed = world.client.post(
                f"/v1/cases/{case_id}/devices",
                json={"owner_ref": ref, "measure": "switched_off", "seal_number": seal},
                headers={**world.headers(), "Idempotency-Key": uuid.uuid4().hex},
            )
            assert sealed.status_code == 201, sealed.text
        # Evaluation: one grid per student, once the grids are open here.
        wait_for(
            lambda: evaluation.get(f"/v1/cases/{case_id}/assessment",
                                   headers=world.headers()).status_code == 200,
            "the evaluation never saw the case",
        )  # fmt: skip
        for index, ref in enumerate(refs):
            grid = evaluation.put(
                f"/v1/cases/{case_id}/grids/{ref}",
                json={"answers": MALICIOUS if index == 1 else IMPULSIVE},
                headers={**world.headers(), "Idempotency-Key": uuid.uuid4().hex},
            )
            assert grid.status_code == 201, grid.text
        # Escalation: the assessment calls the police; the queue shows it.
        queued = wait_for(
            lambda: [e for e in escalation.get("/v1/escalations", headers=police).json()
                     if e["case_id"] == case_id],
            "the case was never escalated",
        )  # fmt: skip
        assert queued[0]["status"] == "requested"
        steps = [
            ("acknowledge", {"call_reference": "911-2026-000777"}, police),
            ("kit-collected", {"seals": [{"seal_number": "SX-71", "intact": True},
                                         {"seal_number": "SX-72", "intact": True}]}, police),
            ("prosecutor-consulted", {"dpcp_file_reference": "DPCP-2026-0777"}, police),
        ]  # fmt: skip
        for path, step, headers in steps:
            taken = escalation.post(
                f"/v1/escalations/{case_id}/{path}", json=step,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert taken.status_code == 201, (path, taken.text)
        decided = escalation.post(
            f"/v1/escalations/{case_id}/decisions/{refs[1]}",
            json={"decision": "malicious", "reasons": "pressure and redistribution"},
            headers={**prosecutor, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert decided.status_code == 201, decided.text

        # Notification: the police subscription heard of each escalation step, signed.
        eventually(
            lambda: {"org.sexto.escalation.requested.v2", "org.sexto.escalation.acknowledged.v1",
                     "org.sexto.escalation.prosecutor_decided.v1"}
            <= set(receiver.types_for(case_id)),
            "the police webhook received the escalation steps",
        )  # fmt: skip
        delivered = [e for _, e in receiver.taken if e["subject"] == case_id]
        assert all(NAME not in str(e) for e in delivered)  # never a name by webhook
        requested = next(e for e in delivered if e["type"].endswith("escalation.requested.v2"))
        assert requested["data"]["urgency"] in ("high", "urgent")
        assert requested["data"]["seal_numbers"] == ["SX-71", "SX-72"]

        # The history, as the record and as each role sees it.
        history = world.client.get(f"/v1/cases/{case_id}/history", headers=world.headers())
        kinds = [e["type"].split(".")[2:4] for e in history.json()["events"]]
        for expected in (["intake", "case_reported"], ["evaluation", "assessment_made"],
                         ["escalation", "requested"], ["escalation", "kit_collected"],
                         ["escalation", "prosecutor_decided"]):  # fmt: skip
            assert expected in kinds, expected
        assert NAME in history.text  # the school's intervener sees the names
        pseudonymous = world.client.get(f"/v1/cases/{case_id}/history", headers=analyst)
        assert pseudonymous.status_code == 200
        assert NAME not in pseudonymous.text
        assert pseudonymous.json()["events"][0]["data"]["students"][0]["name"] == {"withheld": True}
        other_school = world.client.get(
            f"/v1/cases/{case_id}/history", headers=world.other_school_headers()
        )
        assert other_school.status_code == 404
        # The queue speaks the state machine's words: one of the two offender-track
        # students decided, the case still waits on the prosecutor (issue 14).
        after = wait_for(
            lambda: [e for e in escalation.get("/v1/escalations", headers=police).json()
                     if e["case_id"] == case_id and e["status"] == "prosecutor_consulted"],
            "the queue never moved",
        )  # fmt: skip
        assert after[0]["status"] == "prosecutor_consulted"
    finally:
        receiver.down()
