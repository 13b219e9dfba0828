"""The one problem mapping: each kind of refusal, in English and in French, and the catalogue.

No server: a bare FastAPI app with the edge's handlers, routes raising each refusal.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import string
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field
from sexto_events.errors import ConcurrencyConflict
from sexto_events.messages import TEXTS, TITLES, Message
from sexto_events.refusals import (
    CaseAlreadyClosed,
    CaseNotFound,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    IllegalStep,
    Invalid,
    NotFound,
    Refusal,
    RequestInProgress,
    Unavailable,
    UnknownStudent,
)
from sexto_service.auth.dependencies import Unauthorized
from sexto_service.problems import install_problem_handlers, language_of

FRENCH = {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}

REFUSALS: dict[str, tuple[Refusal, int]] = {
    "not-found": (NotFound(Message("subscription-not-found")), 404),
    "case-not-found": (CaseNotFound(Message("case-not-found")), 404),
    "unknown-student": (
        UnknownStudent(Message("unknown-student", student_ref="s-9", known=["s-1"])),
        404,
    ),
    "forbidden": (Forbidden(Message("token-no-school")), 403),
    "invalid-request": (Invalid(Message("parent-needs-student")), 422),
    "idempotency-key-reused": (IdempotencyKeyReused(Message("idempotency-key-reused")), 422),
    "conflict": (Conflict(Message("subscription-deleted")), 409),
    "case-closed": (CaseAlreadyClosed(Message("case-closed")), 409),
    "request-in-progress": (RequestInProgress(Message("request-in-progress")), 409),
    "illegal-step": (
        IllegalStep(
            Message("step-not-allowed", step=Message("step-collect_kit"), status="requested"),
            ["acknowledge"],
        ),
        409,
    ),
    "unavailable": (Unavailable(Message("log-unavailable")), 503),
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=3)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/refusal/{kind}")
    async def refuse(kind: str) -> None:
        raise REFUSALS[kind][0]

    @app.post("/validated")
    async def validated(body: Body) -> None:
        return None

    @app.get("/conflict")
    async def conflict() -> None:
        raise ConcurrencyConflict("c-1", 3, 4)

    @app.get("/unauthorized")
    async def unauthorized() -> None:
        raise Unauthorized(Message("unauthorized-missing"))

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_each_kind_of_refusal_answers_in_french_when_asked(client: TestClient, kind: str) -> None:
    refusal, status = REFUSALS[kind]

    english = client.get(f"/refusal/{kind}")
    french = client.get(f"/refusal/{kind}", headers=FRENCH)

    for answer in (english, french):
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == f"https://sexto.example/problems/{kind}"
    assert english.headers["content-language"] == "en"
    assert french.headers["content-language"] == "fr"
    assert english.json()["title"] == TITLES[kind]["en"]
    assert french.json()["title"] == TITLES[kind]["fr"]
    assert refusal.detail in english.json()["detail"]  # the English text, unchanged
    assert french.json()["detail"] != english.json()["detail"]
    assert type(refusal).__name__ not in french.json()["detail"] + english.json()["detail"]


def test_an_illegal_step_lists_the_allowed_steps_in_both_languages(client: TestClient) -> None:
    english = client.get("/refusal/illegal-step").json()
    french = client.get("/refusal/illegal-step", headers=FRENCH).json()

    assert english["allowed"] == french["allowed"] == ["acknowledge"]
    assert "allowed next: ['acknowledge']" in english["detail"]
    assert "étapes permises ensuite : ['acknowledge']" in french["detail"]


def test_validation_errors_name_the_field_and_what_to_fix_in_french(client: TestClient) -> None:
    answer = client.post("/validated", json={"name": "x", "colour": "blue"}, headers=FRENCH)

    assert answer.status_code == 422
    problem = answer.json()
    assert problem["title"] == "Requête invalide"
    assert "corrigez les champs" in problem["detail"]
    messages = {e["location"]: e["message"] for e in problem["errors"]}
    assert messages["body.name"] == "doit compter au moins 3 caractère(s)"
    assert messages["body.colour"] == "champ inconnu : retirez-le"
    english = client.post("/validated", json={"name": "x"}).json()
    assert english["errors"][0]["message"] == "String should have at least 3 characters"


def test_the_frameworks_own_problems_answer_in_french_too(client: TestClient) -> None:
    for path, status in (("/conflict", 409), ("/unauthorized", 401), ("/nowhere", 404)):
        answer = client.get(path, headers=FRENCH)
        assert answer.status_code == status
        assert answer.headers["content-language"] == "fr"
        assert answer.json()["title"] in {"Conflit", "Non authentifié", "Introuvable"}
    assert "réessayez la requête" in client.get("/conflict", headers=FRENCH).json()["detail"]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("FR-ca;q=0.8, en;q=0.9", "en"),
        ("de, fr;q=0.5", "fr"),
        ("en-GB,fr-CA;q=0.9", "en"),
        ("*", "en"),
        ("fr;q=abc", "en"),
    ],
)
def test_the_language_is_chosen_by_accept_language(header: str | None, language: str) -> None:
    assert language_of(header) == language


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_has_english_and_french_and_renders() -> None:
    for code, texts in TEXTS.items():
        assert set(texts) == {"en", "fr"}, code
        params = {name: "x" for name in _fields(texts["en"]) | _fields(texts["fr"])}
        assert all(name.isidentifier() for name in params), code
        english, french = Message(code, **params).text("en"), Message(code, **params).text("fr")
        assert english != french, code
    for kind, titles in TITLES.items():
        assert set(titles) == {"en", "fr"}, kind


def _all_subclasses(cls: type[Refusal]) -> set[type[Refusal]]:
    found: set[type[Refusal]] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_kind_of_refusal_has_a_title_in_both_languages() -> None:
    for package in ("sexto_intake", "sexto_evaluation", "sexto_escalation", "sexto_notification"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(module.name)
    kinds = {cls.kind for cls in _all_subclasses(Refusal)} | {Refusal.kind}
    assert {"unknown-school", "invalid-grid", "unknown-protocol"} <= kinds
    for kind in kinds:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", kind), kind
        assert kind in TITLES, f"add a title for problem kind {kind!r} to sexto_events.messages"
