"""Intake answers its problems in French when asked (Accept-Language), in English otherwise."""

from __future__ import annotations

import base64

from tests.intake.conftest import World, sexto_report

FRENCH = {"Accept-Language": "fr-CA"}


def test_intakes_refusals_answer_in_french(world: World) -> None:
    missing = world.client.get(f"/v1/cases/{'0' * 32}", headers={**world.headers(), **FRENCH})
    invalid = world.report(sexto_report(world.school, students=[]), headers={
        **world.headers(), **FRENCH})  # fmt: skip
    unknown = world.report(sexto_report("nowhere-school"), headers={**world.headers(
        school="nowhere-school", subject=world.intervener), **FRENCH})  # fmt: skip

    assert missing.status_code == 404
    assert missing.headers["content-language"] == "fr"
    assert missing.json()["title"] == "Introuvable"
    assert missing.json()["detail"] == "aucun dossier avec cet identifiant dans votre périmètre"
    assert invalid.status_code == 422
    assert invalid.json()["title"] == "Requête invalide"
    assert [e["location"] for e in invalid.json()["errors"]] == ["body.students"]
    assert "au moins 1" in invalid.json()["errors"][0]["message"]
    assert unknown.status_code == 422
    assert unknown.json()["title"] == "École inconnue"
    assert "n'est pas au répertoire" in unknown.json()["detail"]


def test_a_token_refused_and_an_image_refused_say_so_in_french(world: World) -> None:
    garbage = world.client.get(
        "/v1/cases", headers={"Authorization": "Bearer not-a-token", **FRENCH}
    )
    blob = "data:image/png;base64," + base64.b64encode(bytes(64)).decode()
    image = world.report(
        sexto_report(world.school, summary=blob), headers={**world.headers(), **FRENCH}
    )
    english = world.report(sexto_report(world.school, summary=blob))

    assert garbage.status_code == 401
    assert garbage.json()["title"] == "Non authentifié"
    assert garbage.json()["detail"] == "le jeton porteur n'est pas un JWT"
    assert image.status_code == 422
    assert image.headers["content-language"] == "fr"
    assert image.json()["title"] == "Les images sont refusées"
    assert image.json()["detail"].startswith("summary contient une URI data: : les images")
    assert english.json()["detail"].startswith("summary holds a data: URI: images")
