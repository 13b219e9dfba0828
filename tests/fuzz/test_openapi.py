"""Schemathesis against the four services' OpenAPI documents, on the real stack (`make fuzz`):
every operation, at least 200 generated examples, with a valid token of each role in turn;
no server error, no status code the document does not declare, no answer off its schema.

Marked `fuzz`: `make test` leaves it out (it takes minutes), `make fuzz` runs it alone.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_escalation.bootstrap import create_app as escalation_app
from sexto_evaluation.bootstrap import create_app as evaluation_app
from sexto_events.principal import Role
from sexto_intake.bootstrap import create_app as intake_app
from sexto_notification.bootstrap import create_app as notification_app
from sexto_notification.config import NotificationSettings
from sexto_service.auth.tokens import AuthSettings

from tests.support.services import caught_up, service_settings
from tests.support.world import World

# The client's own deprecations (per-request cookies, raw bodies), thousands of times over.
pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES = int(os.environ.get("SEXTO_FUZZ_EXAMPLES", "200"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)

# The documents as the services publish them (made without connecting anywhere).
SCHEMAS = {
    "intake": schemathesis.openapi.from_dict(intake_app().openapi()),
    "evaluation": schemathesis.openapi.from_dict(evaluation_app().openapi()),
    "escalation": schemathesis.openapi.from_dict(escalation_app().openapi()),
    "notification": schemathesis.openapi.from_dict(notification_app().openapi()),
}


@pytest.fixture(scope="module")
def clients(
    world: World, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> Iterator[dict[str, TestClient]]:
    settings_ = service_settings(nats_server, postgres)
    auth = AuthSettings(local_key_file=issuer_key_file)
    apps: dict[str, FastAPI] = {
        "intake": intake_app(settings_, auth),
        "evaluation": evaluation_app(settings_, auth),
        "escalation": escalation_app(settings_, auth),
        "notification": notification_app(
            settings_, auth, NotificationSettings(allow_insecure_urls=True)
        ),
    }
    # raise_server_exceptions=False: a 500 is an answer to check, not an exception.
    with (
        TestClient(apps["intake"], raise_server_exceptions=False) as intake,
        TestClient(apps["evaluation"], raise_server_exceptions=False) as evaluation,
        TestClient(apps["escalation"], raise_server_exceptions=False) as escalation,
        TestClient(apps["notification"], raise_server_exceptions=False) as notification,
    ):
        for client in (intake, evaluation, escalation, notification):
            caught_up(client)
        yield {"intake": intake, "evaluation": evaluation, "escalation": escalation,
               "notification": notification}  # fmt: skip


def role_headers(world: World) -> Iterator[dict[str, str]]:
    """A valid token of each role in turn (each with its scope)."""
    tokens = [
        world.headers(),
        world.headers(Role.SAFEGUARDING_LEAD, subject="dsl-f", school=world.school),
        world.headers(Role.SCHOOL_ADMIN, subject="sa-f", school=world.school),
        world.headers(Role.POLICE_DISPATCH, subject="pd-f", territory=world.territory),
        world.headers(Role.POLICE_OFFICER, subject="po-f", territory=world.territory),
        world.headers(Role.PROSECUTOR, subject="dp-f", territory=world.territory),
        world.headers(Role.ANALYST, subject="an-f"),
        world.headers(Role.LEGAL_REVIEWER, subject="lr-f"),
        world.headers(Role.ADMIN, subject="ad-f"),
    ]
    return itertools.cycle(tokens)


ROLES: dict[str, Iterator[dict[str, str]]] = {}


def fuzz(service: str, case: Any, world: World, clients: dict[str, TestClient]) -> None:
    """Send one generated request as the next role, and check its answer."""
    roles = ROLES.setdefault(service, role_headers(world))
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {**(kwargs.pop("headers", None) or {}), **next(roles)}
    response = clients[service].request(headers=headers, **kwargs)
    case.validate_response(response, checks=CHECKS)


@SCHEMAS["intake"].parametrize()
@FUZZ
def test_intake(case: Any, world: World, clients: dict[str, TestClient]) -> None:
    fuzz("intake", case, world, clients)


@SCHEMAS["evaluation"].parametrize()
@FUZZ
def test_evaluation(case: Any, world: World, clients: dict[str, TestClient]) -> None:
    fuzz("evaluation", case, world, clients)


@SCHEMAS["escalation"].parametrize()
@FUZZ
def test_escalation(case: Any, world: World, clients: dict[str, TestClient]) -> None:
    fuzz("escalation", case, world, clients)


@SCHEMAS["notification"].parametrize()
@FUZZ
def test_notification(case: Any, world: World, clients: dict[str, TestClient]) -> None:
    fuzz("notification", case, world, clients)
