"""Every answer of the four services declares the class of each of its fields (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sexto_escalation.bootstrap import create_app as escalation_app
from sexto_evaluation.bootstrap import create_app as evaluation_app
from sexto_events.disclosure import nested_model, unclassified_fields
from sexto_intake.bootstrap import create_app as intake_app
from sexto_notification.bootstrap import create_app as notification_app

# Routes whose answers hold no data about a case, and why.
NO_CASE_DATA = {
    "/healthz": "liveness",
    "/readyz": "readiness of the service's own connections",
    "/metrics": "Prometheus counters, no labels with ids",
    "/v1/disclosure": "the policy itself",
    "/v1/protocols": "the protocols, public data",
    "/v1/protocols/{name}/{version}": "one protocol version, public data",
    "/asyncapi.json": "the integration contract",
    "/v1/admin/territories": "the directory (admins): police forces, no case",
    "/v1/admin/territories/{territory_id}": "the directory (admins): one police force",
    "/v1/admin/agreements": "the directory (admins): agreements with the DPCP",
    "/v1/admin/agreements/{agreement_id}": "the directory (admins): one agreement",
    "/v1/admin/schools": "the directory (admins): schools",
    "/v1/admin/schools/{school_id}": "the directory (admins): one school",
    "/v1/admin/interveners": "the directory (admins): certified interveners' ids, no case",
    "/v1/admin/interveners/{intervener_id}": "the directory (admins): one certification",
    "/v1/legal/cases/{case_id}/export": "a court bundle (zip) for legal reviewers, who see all",
    "/v1/legal/cases/{case_id}/transparency": "a case's Merkle leaves for legal reviewers: "
    "stream sequences, leaf indices, hashes and signed notes, no personal data",
    "/v1/legal/transparency/checkpoint": "the transparency log's signed size and root",
    "/v1/legal/transparency/proofs/inclusion": "hashes of the Merkle tree, no case named",
    "/v1/legal/transparency/proofs/consistency": "hashes of the Merkle tree, no case named",
}


def apps() -> dict[str, FastAPI]:
    return {
        "intake": intake_app(),
        "evaluation": evaluation_app(),
        "escalation": escalation_app(),
        "notification": notification_app(),
    }


def answer_models(route: APIRoute) -> list[type[BaseModel]]:
    model = route.response_model
    found = nested_model(model) if model is not None else None
    return [found] if found is not None else []


def flat(routes: list[Any], prefix: str = "") -> list[APIRoute]:
    """The API routes of an app, through the routers it includes."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += flat(route.original_router.routes)
    return found


def routes() -> list[tuple[str, APIRoute]]:
    return [(name, route) for name, app in apps().items() for route in flat(app.router.routes)]


@pytest.mark.parametrize(
    ("service", "route"), routes(), ids=lambda v: getattr(v, "path", v) if v else ""
)
def test_each_answer_field_has_a_class_or_the_route_holds_no_case_data(
    service: str, route: APIRoute
) -> None:
    models = answer_models(route)
    if route.path in NO_CASE_DATA or route.status_code == 204:
        return  # no case data, or no answer body at all
    assert models, f"{service} {route.path}: declare its response model, fields classed"
    for model in models:
        assert unclassified_fields(model) == [], f"{service} {route.path}"


def test_the_routes_said_to_hold_no_case_data_exist() -> None:
    paths = {route.path for _, route in routes()}

    assert set(NO_CASE_DATA) <= paths


def test_every_service_publishes_the_same_table() -> None:
    documents: list[Any] = []
    for app in apps().values():
        client = TestClient(app)  # no lifespan: the table needs no connection
        documents.append(client.get("/v1/disclosure").json())

    assert all(d == documents[0] for d in documents)
    assert documents[0]["roles"]["police_dispatch"]["narrative"] == "withheld"
