"""Every service's OpenAPI document declares its errors: RFC 9457 problems, per operation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from sexto_service.idempotency import HEADER, KEY_DESCRIPTION, KEY_PATTERN, WRITE_METHODS
from sexto_service.problems import PROBLEM_JSON
from sexto_service.roles import document_roles, roles_of

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `detail` says what to fix.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "each field to fix (invalid requests)",
            "items": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "allowed": {
            "type": "array",
            "items": {"type": "string"},
            "description": "the steps allowed next (illegal steps)",
        },
    },
    "additionalProperties": True,
}

# What any operation may answer, beside its own success.
COMMON = {
    "400": "malformed: a body that is not valid JSON, or a page cursor this API did not give",
    "422": "invalid request: the fields listed in `errors`, facts that cannot be accepted, or "
    "an image in a value (images are never accepted)",
    "500": "failed on our side; nothing was recorded unless a later read shows it",
}
SECURED = {
    "401": "no bearer token, or one that does not verify",
    "403": "your role or scope may not do this",
    "404": "nothing with this id in your scope (indistinguishable from a missing one)",
}
WRITES = {
    "409": "contradicts the record (an illegal step lists the allowed ones), a conflict, or "
    "a request with the same Idempotency-Key still being carried out",
    "413": "the body is over the size limit",
    "415": "not JSON, or an image in any form (images are never accepted)",
    "429": "over your write limit (SEXTO_RATE_WRITES_PER_MINUTE, bursts of "
    "SEXTO_RATE_WRITES_BURST): wait the `Retry-After` seconds; nothing was recorded",
    "503": "a component this request needs did not answer; retry",
}


def _problem(description: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM_JSON: {"schema": ref}}}


IDEMPOTENCY_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": KEY_DESCRIPTION,
    "schema": {"type": "string", "pattern": KEY_PATTERN},
}


def _idempotency_key(operation: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name", "").lower() == HEADER.lower() for p in parameters):
        parameters.append(IDEMPOTENCY_PARAMETER)


def document_problems(app: FastAPI, routes: Sequence[APIRoute] = ()) -> None:
    """Make `app.openapi()` list the problem answers, the roles and the Idempotency-Key of
    each operation; `routes` are the app's routes as declared, whose role rules are read."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        roles = {
            (route.path_format, method.lower()): roles_of(route)
            for route in routes
            for method in route.methods or ()
        }
        for path, methods in schema.get("paths", {}).items():
            for method, operation in methods.items():
                allowed = roles.get((path, method))
                if allowed is not None:
                    document_roles(operation, allowed)
                if method.upper() in WRITE_METHODS:
                    _idempotency_key(operation)
                answers = dict(COMMON)
                if operation.get("security"):
                    answers |= SECURED
                if method in {"post", "put", "patch", "delete"}:
                    answers |= WRITES
                responses = operation.setdefault("responses", {})
                for status, description in answers.items():
                    responses[status] = _problem(description)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
