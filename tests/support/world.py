"""The intake service on the real servers, a directory seeded through its admin API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.principal import Role
from sexto_intake.bootstrap import create_app
from sexto_service.auth.issuer import ensure_key, mint
from sexto_service.auth.tokens import AuthSettings

from tests.support.services import service_settings


@dataclass
class World:
    """A seeded directory: ids are unique to this test session."""

    client: TestClient
    key: Ed25519PrivateKey
    territory: str  # has an agreement in force since 2024
    bare_territory: str  # has none
    school: str
    other_school: str
    bare_school: str
    intervener: str
    uncertified: str
    uk_territory: str  # an English police force's territory (the UK DSL path)
    uk_school: str

    def dsl_headers(self) -> dict[str, str]:
        """The designated safeguarding lead of the English school."""
        return self.headers(Role.SAFEGUARDING_LEAD, subject="dsl-uk", school=self.uk_school)

    def token(self, role: Role, **scope: Any) -> str:
        return mint(self.key, role=role, **scope)

    def headers(self, role: Role = Role.INTERVENER, **scope: Any) -> dict[str, str]:
        if role is Role.INTERVENER and not scope:
            scope = {"subject": self.intervener, "school": self.school}
        return {"Authorization": f"Bearer {self.token(role, **scope)}"}

    def other_school_headers(self) -> dict[str, str]:
        """A certified intervener of the other school of the same territory."""
        return self.headers(
            Role.INTERVENER, subject=f"{self.intervener}-b", school=self.other_school
        )

    def student_index(self) -> list[dict[str, Any]]:
        """Intake's index of student numbers (digests), every row."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]

        async def rows() -> list[dict[str, Any]]:
            async with runtime.pool.acquire() as conn:
                found = await conn.fetch("SELECT * FROM intake.student_index")
            return [dict(r) for r in found]

        return self.client.portal.call(rows)  # type: ignore[union-attr]

    def report(self, body: dict[str, Any], key: str | None = None, **kw: Any) -> Any:
        headers = {**kw.pop("headers", self.headers()), "Idempotency-Key": key or uuid.uuid4().hex}
        return self.client.post("/v1/cases", json=body, headers=headers, **kw)

    def wait_for_case(
        self, case_id: str, headers: dict[str, str] | None = None, min_version: int | None = None
    ) -> Any:
        """The case once the read model has it (the POST answer is immediate, the view not);
        with `min_version` (what a write answered), once it has every event of that write:
        a report's own events may reach the read model in more than one transaction."""
        deadline = time.monotonic() + 15
        params = {} if min_version is None else {"min_version": min_version}
        while time.monotonic() < deadline:
            response = self.client.get(
                f"/v1/cases/{case_id}", params=params, headers=headers or self.headers()
            )
            if response.status_code == 200:
                return response
            time.sleep(0.05)
        raise AssertionError(f"case {case_id} never reached the read model")


def sexto_report(school: str, **changes: Any) -> dict[str, Any]:
    """A SEXTO report with three students (invented names)."""
    body: dict[str, Any] = {
        "protocol": "sexto-qc",
        "school_id": school,
        "discovered_at": "2026-11-02T09:30:00-05:00",
        "discovery_channel": "student_disclosure",
        "summary": "A photo of a student was shared in a group chat during the lunch break.",
        "students": [
            {"name": "Maëlle Quintessa", "role": "depicted", "age": 14, "grade": "sec 3"},
            {"name": "Orvald Pennywhistle", "role": "sender", "age": 15},
            {"name": "Tamsin Greyleaf", "role": "redistributor", "age": 15},
        ],
    }
    body.update(changes)
    return body


@pytest.fixture(scope="session")
def world(
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
    transparency_stack: dict[str, str],
) -> Iterator[World]:
    settings = service_settings(nats_server, postgres)
    app = create_app(settings, AuthSettings(local_key_file=issuer_key_file))
    token = uuid.uuid4().hex[:6]
    with TestClient(app) as client:
        w = World(
            client=client,
            key=ensure_key(issuer_key_file),
            territory=f"spvm{token}",
            bare_territory=f"nowhere{token}",
            school=f"school-a{token}",
            other_school=f"school-b{token}",
            bare_school=f"school-c{token}",
            intervener=f"iv-{token}",
            uncertified=f"iv2-{token}",
            uk_territory=f"met{token}",
            uk_school=f"school-uk{token}",
        )
        seed(w)
        yield w


def seed(w: World) -> None:
    admin = w.headers(Role.ADMIN, subject="admin-1")
    posts = [
        ("territories", {"territory_id": w.territory, "name": "Service de police fictif",
                         "jurisdiction": "qc"}),
        ("territories", {"territory_id": w.bare_territory, "name": "Service de police sans entente",
                         "jurisdiction": "qc"}),
        ("territories", {"territory_id": w.uk_territory, "name": "Fictional Constabulary",
                         "jurisdiction": "england"}),
        ("agreements", {"agreement_id": f"mou-{w.territory}", "territory_id": w.territory,
                        "signed_on": "2023-09-01", "in_force_from": "2024-01-01"}),
        ("schools", {"school_id": w.school, "name": "École fictive A",
                     "territory_id": w.territory, "language": "fr"}),
        ("schools", {"school_id": w.other_school, "name": "École fictive B",
                     "territory_id": w.territory, "language": "fr"}),
        ("schools", {"school_id": w.bare_school, "name": "Fictional School C",
                     "territory_id": w.bare_territory, "language": "en"}),
        ("schools", {"school_id": w.uk_school, "name": "Fictional Academy",
                     "territory_id": w.uk_territory, "language": "en"}),
    ]  # fmt: skip
    for path, body in posts:
        response = w.client.post(f"/v1/admin/{path}", json=body, headers=admin)
        assert response.status_code == 201, response.text
    wait_for_directory(w, "dir_schools", "school_id", w.uk_school)
    for intervener, school in ((w.intervener, w.school), (f"{w.intervener}-b", w.other_school)):
        body = {"intervener_id": intervener, "school_id": school, "level": "explorer",
                "certified_on": "2025-05-01"}  # fmt: skip
        response = w.client.post("/v1/admin/interveners", json=body, headers=admin)
        assert response.status_code == 201, response.text
    wait_for_directory(w, "dir_interveners", "intervener_id", f"{w.intervener}-b")


def wait_for_directory(w: World, table: str, column: str, value: str) -> None:
    runtime = w.client.app.state.runtime  # type: ignore[attr-defined]

    async def present() -> bool:
        async with runtime.pool.acquire() as conn:
            found = await conn.fetchval(f"SELECT 1 FROM intake.{table} WHERE {column} = $1", value)
        return found is not None

    deadline = time.monotonic() + 15
    while not w.client.portal.call(present):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"{value} never reached intake.{table}"
        time.sleep(0.05)
