"""Each service starts as a FastAPI app wired to the real NATS and PostgreSQL."""

from __future__ import annotations

import gc
import importlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.principal import Role
from sexto_service.auth.issuer import ensure_key, mint
from sexto_service.auth.tokens import AuthSettings

from tests.support.services import service_settings

SERVICES = ["intake", "evaluation", "escalation", "notification"]


def make_app(
    name: str, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> FastAPI:
    bootstrap = importlib.import_module(f"sexto_{name}.bootstrap")
    settings = service_settings(nats_server, postgres)
    auth = AuthSettings(local_key_file=issuer_key_file)
    app: FastAPI = bootstrap.create_app(settings, auth)
    return app


@pytest.fixture(params=SERVICES)
def client(
    request: pytest.FixtureRequest,
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
) -> Iterator[TestClient]:
    app = make_app(request.param, nats_server, postgres, issuer_key_file)
    with TestClient(app) as test_client:
        yield test_client


def test_healthz_answers(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_nats_the_stream_the_database_and_the_read_models(
    client: TestClient,
) -> None:
    # A new service's read models first take what the suite's stream already holds.
    for _ in range(600):
        response = client.get("/readyz")
        if response.status_code == 200:
            break
        assert response.json()["checks"]["read_models"].startswith("failing")
        time.sleep(0.1)

    assert response.status_code == 200
    checks = {"nats": "ok", "stream": "ok", "fsync": "ok", "database": "ok", "consumers": "ok",
              "read_models": "ok"}  # fmt: skip
    assert response.json()["checks"] == checks


def test_readyz_is_a_503_problem_when_nats_is_gone(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    client.portal.call(runtime.nc.close)  # type: ignore[union-attr]

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"]["nats"].startswith("failing")
    assert response.json()["checks"]["database"] == "ok"


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "python_gc_objects_collected_total" in response.text


def test_an_unknown_route_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["type"].startswith("https://")
    assert body["title"]


def test_each_service_has_its_own_schema(client: TestClient, postgres: EmbeddedPostgres) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def schemas() -> list[str]:
        async with runtime.pool.acquire() as conn:
            rows = await conn.fetch("SELECT schema_name FROM information_schema.schemata")
        return [r["schema_name"] for r in rows]

    assert runtime.name in client.portal.call(schemas)  # type: ignore[union-attr]


def test_the_openapi_document_declares_the_bearer_scheme_and_every_problem(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()

    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": schemes["HTTPBearer"]["description"],
    }
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    secured = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert "422" in responses, (method, path)
            problem = responses["422"]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}
            if operation.get("security"):
                secured += 1
                assert operation["security"] == [{"HTTPBearer": []}]
                assert {"401", "403", "404"} <= set(responses), (method, path)
            if method == "post":
                assert {"409", "413", "415"} <= set(responses), (method, path)
    assert secured > 0  # every service has routes behind a token


def test_each_operation_says_which_roles_may_call_it_and_takes_an_idempotency_key(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()

    roles = {role.value for role in Role}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if operation.get("security"):
                assert operation["x-roles"], (method, path)
                assert set(operation["x-roles"]) <= roles
                for role in operation["x-roles"]:
                    assert f"`{role}`" in operation["description"], (method, path)
            if method in {"post", "put", "patch", "delete"}:
                keys = [
                    p for p in operation["parameters"] if p["name"].lower() == "idempotency-key"
                ]
                assert len(keys) == 1, (method, path)
                assert keys[0]["in"] == "header"


def test_the_roles_in_the_openapi_document_are_the_roles_the_route_checks(
    client: TestClient, issuer_key_file: Path
) -> None:
    document = client.get("/openapi.json").json()
    path, method = {
        "intake": ("/v1/admin/territories", "post"),
        "evaluation": ("/v1/protocols", "get"),
        "escalation": ("/v1/escalations", "get"),
        "notification": ("/v1/subscriptions", "get"),
    }[client.app.state.runtime.name]  # type: ignore[attr-defined]
    operation = document["paths"][path][method]
    key = ensure_key(issuer_key_file)

    for role in Role:
        token = mint(key, role=role, subject="s-1", school="school-x", territory="t-x")
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "fr"}
        if method == "post":
            answer = client.post(path, json={"territory_id": "", "name": ""}, headers=headers)
        else:
            answer = client.get(path, headers=headers)
        refused = answer.status_code == 403
        assert refused == (role.value not in operation["x-roles"]), (role, answer.text)
        if refused:
            assert answer.json()["title"] == "Interdit"


def test_what_start_up_made_is_out_of_the_collectors_sight(
    nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> None:
    # A full collection would otherwise walk every module's objects again: a pause of tens
    # of milliseconds on whatever request was running (sexto_service.runtime.freeze_start_up).
    gc.unfreeze()
    app = make_app("intake", nats_server, postgres, issuer_key_file)
    with TestClient(app):
        frozen = gc.get_freeze_count()
        assert frozen > 50_000  # the imported modules, the app, its runtime
        runtime = app.state.runtime
        # Frozen: in no generation the collector walks.
        assert all(o is not runtime for o in gc.get_objects())
