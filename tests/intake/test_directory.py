"""The directory over REST: admins' writes validated, and read back."""

from __future__ import annotations

import uuid

from sexto_events.principal import Role

from tests.intake.conftest import World, sexto_report
from tests.support.world import wait_for_directory


def admin(world: World) -> dict[str, str]:
    return world.headers(Role.ADMIN, subject="admin-1")


def test_a_school_in_an_unknown_territory_is_refused(world: World) -> None:
    body = {"school_id": f"s-{uuid.uuid4().hex[:8]}", "name": "École perdue",
            "territory_id": "no-such-force", "language": "fr"}  # fmt: skip

    response = world.client.post("/v1/admin/schools", json=body, headers=admin(world))

    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/unknown-territory")
    assert "no-such-force" in response.json()["detail"]


def test_an_agreement_in_an_unknown_territory_or_ending_before_it_starts_is_refused(
    world: World,
) -> None:
    unknown = {"agreement_id": f"mou-{uuid.uuid4().hex[:8]}", "territory_id": "no-such-force",
               "signed_on": "2024-01-01", "in_force_from": "2024-02-01"}  # fmt: skip
    backwards = {**unknown, "territory_id": world.territory, "in_force_to": "2024-01-31"}

    first = world.client.post("/v1/admin/agreements", json=unknown, headers=admin(world))
    second = world.client.post("/v1/admin/agreements", json=backwards, headers=admin(world))

    assert first.status_code == 422
    assert first.json()["type"].endswith("/unknown-territory")
    assert second.status_code == 422
    assert second.json()["type"].endswith("/invalid-directory-entry")
    assert "2024-01-31" in second.json()["detail"]


def test_an_intervener_of_an_unknown_school_is_refused(world: World) -> None:
    body = {"intervener_id": "iv-nobody", "school_id": "no-such-school", "level": "explorer",
            "certified_on": "2025-01-01"}  # fmt: skip

    response = world.client.post("/v1/admin/interveners", json=body, headers=admin(world))

    assert response.status_code == 422
    assert response.json()["type"].endswith("/unknown-school")


def test_a_duplicate_id_is_a_conflict_even_in_another_territory(world: World) -> None:
    territory = {"territory_id": world.territory, "name": "Encore", "jurisdiction": "qc"}
    school = {"school_id": world.school, "name": "Doublon", "territory_id": world.bare_territory,
              "language": "fr"}  # fmt: skip
    agreement = {"agreement_id": f"mou-{world.territory}", "territory_id": world.bare_territory,
                 "signed_on": "2023-09-01", "in_force_from": "2024-01-01"}  # fmt: skip

    answers = [
        world.client.post(f"/v1/admin/{path}", json=body, headers=admin(world))
        for path, body in (("territories", territory), ("schools", school),
                           ("agreements", agreement))
    ]  # fmt: skip

    assert [a.status_code for a in answers] == [409, 409, 409]
    assert all(a.json()["type"].endswith("/already-registered") for a in answers)


def test_admins_read_the_directory_and_nobody_else_does(world: World) -> None:
    territories = world.client.get("/v1/admin/territories", headers=admin(world))
    school = world.client.get(f"/v1/admin/schools/{world.uk_school}", headers=admin(world))
    agreements = world.client.get("/v1/admin/agreements", headers=admin(world))
    interveners = world.client.get("/v1/admin/interveners", headers=admin(world))
    one = world.client.get(f"/v1/admin/interveners/{world.intervener}", headers=admin(world))
    missing = world.client.get("/v1/admin/territories/no-such-force", headers=admin(world))
    by_staff = world.client.get("/v1/admin/schools", headers=world.headers())

    by_id = {t["territory_id"]: t for t in territories.json()}
    assert by_id[world.territory]["jurisdiction"] == "qc"
    assert by_id[world.uk_territory]["jurisdiction"] == "england"
    assert school.json() == {"school_id": world.uk_school, "name": "Fictional Academy",
                             "territory_id": world.uk_territory, "language": "en"}  # fmt: skip
    assert f"mou-{world.territory}" in {a["agreement_id"] for a in agreements.json()}
    assert world.intervener in {i["intervener_id"] for i in interveners.json()}
    assert one.json() == {"intervener_id": world.intervener, "school_id": world.school,
                          "level": "explorer", "certified_on": "2025-05-01"}  # fmt: skip
    assert missing.status_code == 404
    assert by_staff.status_code == 403


def test_a_quebec_school_cannot_open_a_uk_path_case_nor_the_reverse(world: World) -> None:
    uk_at_quebec = world.report(sexto_report(world.school, protocol="uk-dsl"))
    sexto_in_england = world.report(sexto_report(world.uk_school), headers=world.dsl_headers())

    for response, allowed in ((uk_at_quebec, "sexto-qc"), (sexto_in_england, "uk-dsl")):
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("/protocol-not-for-jurisdiction")
        assert allowed in response.json()["detail"]


def test_an_intervener_certified_after_the_discovery_is_refused(world: World) -> None:
    late = f"iv-late-{uuid.uuid4().hex[:6]}"
    body = {"intervener_id": late, "school_id": world.school, "level": "architect",
            "certified_on": "2026-11-03"}  # fmt: skip
    assert world.client.post("/v1/admin/interveners", json=body, headers=admin(world)).is_success
    wait_for_directory(world, "dir_interveners", "intervener_id", late)
    headers = world.headers(Role.INTERVENER, subject=late, school=world.school)

    response = world.report(sexto_report(world.school), headers=headers)  # found 2026-11-02

    assert response.status_code == 422
    assert response.json()["reason"] == "intervener-certified-after-discovery"
    assert "uk-dsl" not in response.json()["detail"]
