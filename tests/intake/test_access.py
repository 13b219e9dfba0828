"""Identity and scope: bad tokens are 401, another tenant's case is a plain 404."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sexto_events.principal import Role
from sexto_service.auth.issuer import mint

from tests.intake.conftest import World, sexto_report


def _b64(part: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


def bad_tokens(world: World) -> dict[str, str]:
    now = int(time.time())
    good = {"iss": "sexto-local", "aud": "sexto", "sub": world.intervener, "iat": now,
            "exp": now + 600, "role": "intervener", "school": world.school}  # fmt: skip
    return {
        "expired": jwt.encode({**good, "iat": now - 7200, "exp": now - 3600}, world.key, "EdDSA"),
        "wrong audience": jwt.encode({**good, "aud": "another-api"}, world.key, "EdDSA"),
        "wrong issuer": jwt.encode({**good, "iss": "someone-else"}, world.key, "EdDSA"),
        "wrong key": jwt.encode(good, Ed25519PrivateKey.generate(), "EdDSA"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(good)}.",
        "hmac with a guessable secret": jwt.encode(good, "secret" * 6, "HS256"),
        "not a jwt": "hello",
        "no role": jwt.encode({k: v for k, v in good.items() if k != "role"}, world.key, "EdDSA"),
    }


@pytest.mark.parametrize(
    "name",
    ["expired", "wrong audience", "wrong issuer", "wrong key", "alg none",
     "hmac with a guessable secret", "not a jwt"],
)  # fmt: skip
def test_an_invalid_token_is_a_401_problem(world: World, name: str) -> None:
    token = bad_tokens(world)[name]

    response = world.report(
        sexto_report(world.school), headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401, name
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"]


@pytest.mark.parametrize("role", [None, "janitor"])
def test_a_genuine_token_without_a_known_role_is_a_403_naming_the_claim(
    world: World, role: str | None
) -> None:
    now = int(time.time())
    claims = {"iss": "sexto-local", "aud": "sexto", "sub": "someone-1", "iat": now,
              "exp": now + 600, "school": world.school, "role": role}  # fmt: skip
    token = jwt.encode({k: v for k, v in claims.items() if v is not None}, world.key, "EdDSA")

    response = world.client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "role claim" in response.json()["detail"]
    assert "intervener" in response.json()["detail"]  # the roles it may name


def test_a_missing_token_is_a_401_that_says_what_to_send(world: World) -> None:
    response = world.client.get("/v1/cases")

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]


def test_a_valid_token_passes(world: World) -> None:
    assert world.client.get("/v1/cases", headers=world.headers()).status_code == 200


def test_every_case_endpoint_answers_another_schools_case_like_a_missing_one(
    world: World,
) -> None:
    case_id = world.report(sexto_report(world.school)).json()["case_id"]
    world.wait_for_case(case_id)
    other = world.headers(
        Role.INTERVENER, subject=f"{world.intervener}-b", school=world.other_school
    )
    police = world.headers(Role.POLICE_DISPATCH, territory=world.territory)
    admin = world.headers(Role.ADMIN, subject="admin-1")

    for path in (f"/v1/cases/{case_id}", f"/v1/cases/{case_id}/history"):
        missing = world.client.get(path.replace(case_id, "0" * 32), headers=other)
        for headers in (other, police, admin):
            response = world.client.get(path, headers=headers)
            assert response.status_code == 404
            assert response.json() == missing.json()


def test_the_list_shows_only_the_callers_school(world: World) -> None:
    mine = world.report(sexto_report(world.school)).json()["case_id"]
    world.wait_for_case(mine)
    other = world.headers(
        Role.INTERVENER, subject=f"{world.intervener}-b", school=world.other_school
    )

    listed = world.client.get("/v1/cases?limit=200", headers=other).json()["items"]

    assert mine not in {c["case_id"] for c in listed}
    assert all(c["school_id"] == world.other_school for c in listed)


def test_admins_manage_the_directory_not_cases(world: World) -> None:
    response = world.client.get("/v1/cases", headers=world.headers(Role.ADMIN, subject="a"))

    assert response.status_code == 403


def test_only_admins_write_the_directory(world: World) -> None:
    body = {"territory_id": "rogue", "name": "Rogue"}

    response = world.client.post("/v1/admin/territories", json=body, headers=world.headers())

    assert response.status_code == 403


def test_a_token_minted_for_a_police_role_carries_its_territory(world: World) -> None:
    token = mint(world.key, role=Role.POLICE_DISPATCH, territory=world.territory)

    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims["territory"] == world.territory
    assert claims["role"] == "police_dispatch"


@pytest.mark.parametrize(
    ("claims", "said", "status"),
    [
        ({"role": "intervener"}, "has no school claim", 403),
        ({"role": "police_dispatch"}, "has no territory claim", 403),
        ({"role": "prosecutor"}, "has no territory claim", 403),
        ({"role": "intervener", "school": ["school-a", "school-b"]}, "school claim must be one",
         401),
        ({"role": "police_officer", "territory": 42}, "territory claim must be one", 401),
        ({"role": "prosecutor", "territory": ""}, "territory claim must be one", 401),
    ],
    ids=["school-missing", "territory-missing", "prosecutor-unscoped", "school-list",
         "territory-number", "territory-empty"],
)  # fmt: skip
def test_a_missing_scope_claim_is_a_403_and_a_malformed_one_a_401_naming_it(
    world: World, claims: dict[str, object], said: str, status: int
) -> None:
    # A genuine token without its scope authenticates its bearer but authorises nothing
    # (403); a claim of the wrong shape makes the token itself invalid (401).
    now = int(time.time())
    token = jwt.encode({"iss": "sexto-local", "aud": "sexto", "sub": "someone-1", "iat": now,
                        "exp": now + 600, **claims}, world.key, "EdDSA")  # fmt: skip

    listed = world.client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})
    french = world.client.get(
        "/v1/cases", headers={"Authorization": f"Bearer {token}", "Accept-Language": "fr"}
    )

    assert listed.status_code == status, listed.text
    assert said in listed.json()["detail"]
    assert french.status_code == status
    assert french.headers["content-language"] == "fr"
