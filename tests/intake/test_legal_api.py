"""The legal review API: legal reviewers only, every read recorded, the bundle verifies."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from sexto_events.catalogue.audit import CaseRead
from sexto_events.principal import Role

from tests.intake.conftest import World
from tests.intake.test_history import log_events, new_case

PROBLEM = "application/problem+json"


def reads(world: World, case_id: str, view: str) -> int:
    """The reads of this view on the case's record (of any stored version of the type)."""
    return sum(
        1
        for e in log_events(world, case_id)
        if isinstance(e.data, CaseRead) and e.data.view == view
    )


def reviewer(world: World) -> dict[str, str]:
    return world.headers(Role.LEGAL_REVIEWER, subject="lr-court-1")


def test_legal_history_is_the_log_with_personal_data_and_protocol_versions(world: World) -> None:
    case_id = new_case(world)

    history = world.client.get(f"/v1/legal/cases/{case_id}/history", headers=reviewer(world))

    assert history.status_code == 200, history.text
    assert history.headers["cache-control"] == "no-store"
    body = history.json()
    log = log_events(world, case_id)
    assert body["chain"]["verified"] is True
    assert body["chain"]["head_hash"] == log[-1].envelope.hash
    assert [e["id"] for e in body["events"]] == [e.id for e in log]
    assert body["events"][0]["data"]["students"][0]["name"] == "Maëlle Quintessa"
    assert body["events"][0]["protocol_version"] == log[0].envelope.protocolversion
    assert reads(world, case_id, "legal_history") == 1


def test_verification_reports_the_whole_chain(world: World) -> None:
    case_id = new_case(world)

    checked = world.client.get(f"/v1/legal/cases/{case_id}/verification", headers=reviewer(world))

    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["verified"] is True
    assert body["broken_position"] is None
    assert body["events"] == len(log_events(world, case_id))  # its own read included
    assert reads(world, case_id, "legal_verification") == 1


def test_the_exported_zip_verifies_on_its_own(
    world: World, tmp_path: Path, transparency_stack: dict[str, str]
) -> None:
    case_id = new_case(world)

    response = world.client.get(f"/v1/legal/cases/{case_id}/export", headers=reviewer(world))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    zipfile.ZipFile(io.BytesIO(response.content)).extractall(tmp_path)
    folder = tmp_path / f"case-{case_id}"
    published = json.loads(transparency_stack["SEXTO_TLOG_WITNESSES"])
    checked = subprocess.run(
        [sys.executable, "-I", str(folder / "verify.py"), "--quorum", "1",
         "--log-key", transparency_stack["SEXTO_WITNESS_LOG_VKEY"], "--witness", published[0]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    assert "checkpoint: sexto.local/cases, tree size" in checked.stdout
    assert "Maëlle Quintessa" in (folder / "personal-data.jsonl").read_text()
    assert reads(world, case_id, "legal_export") == 1


def test_other_roles_are_refused_and_unknown_cases_are_404(world: World) -> None:
    case_id = new_case(world)
    before = len(log_events(world, case_id))

    for path in ("history", "verification", "export"):
        for headers in (world.headers(), world.headers(Role.ANALYST, subject="an-1")):
            refused = world.client.get(f"/v1/legal/cases/{case_id}/{path}", headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == PROBLEM
        missing = world.client.get(f"/v1/legal/cases/no-such-case/{path}", headers=reviewer(world))
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM
        anonymous = world.client.get(f"/v1/legal/cases/{case_id}/{path}")
        assert anonymous.status_code == 401

    assert len(log_events(world, case_id)) == before  # refusals read nothing
