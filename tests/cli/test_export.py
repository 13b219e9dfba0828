"""The court bundle verifies on its own, and any tampering with its events is named."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sexto_protocols as protocols
from nats.aio.client import Client
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.model import CaseRef
from sexto_events.store import EventStore

from tests.cli.conftest import Cli, write_case
from tests.support.events import INVENTED_NAME
from tests.support.raw import copy_case, publish_raw
from tests.support.transparency import TreeRun


def run_verifier(folder: Path) -> subprocess.CompletedProcess[str]:
    # Run from elsewhere with -I: the verifier must need nothing but the standard library.
    return subprocess.run(
        [sys.executable, "-I", str(folder / "verify.py")],
        capture_output=True,
        text=True,
        cwd=folder.parent,
        check=False,
    )


@pytest.fixture(scope="module")
async def exported(
    cli: Cli, store: EventStore, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str], CaseRef]:
    case = CaseRef(f"t{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    ids = await write_case(store, case)
    folder = tmp_path_factory.mktemp("bundle") / "case"
    result = await cli("export", case.case_id, "--out", str(folder))
    assert result.exit_code == 0, result.output
    return folder, ids, case


def lines(folder: Path) -> list[bytes]:
    return (folder / "events.jsonl").read_bytes().splitlines()


def test_the_untouched_bundle_verifies_with_the_standard_library_alone(
    exported: tuple[Path, list[str], CaseRef],
) -> None:
    folder, ids, case = exported

    checked = run_verifier(folder)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"OK: {len(ids) + 1} events of case {case.case_id}")
    manifest = json.loads((folder / "manifest.json").read_text())
    # the export's own read is on the record, and exported with the rest
    events = [json.loads(line) for line in lines(folder)]
    assert [e["id"] for e in events[: len(ids)]] == ids
    assert events[-1]["type"] == "org.sexto.audit.case_read.v2"
    assert events[-1]["data"] == {
        "view": "export",
        "service": "legal",
        "policy_version": POLICY_VERSION,
    }
    assert manifest["exported_by"]["role"] == "legal_reviewer"
    version = protocols.current("sexto-qc")
    assert manifest["protocols"] == {version.id: f"protocols/sexto-qc.v{version.version}.json"}


def test_the_bundle_holds_custody_and_personal_data_the_log_keeps_encrypted(
    exported: tuple[Path, list[str], CaseRef],
) -> None:
    folder, ids, _ = exported

    custody = [json.loads(line) for line in (folder / "custody.jsonl").read_text().splitlines()]
    personal = (folder / "personal-data.jsonl").read_text()

    assert [c["step"] for c in custody] == [
        "secured_at_school", "listed_for_police", "collected_by_police"
    ]  # fmt: skip
    assert [c["event_id"] for c in custody] == [ids[1], ids[3], ids[4]]
    assert all(c["seal_numbers"] == ["SB-0042"] for c in custody)
    assert INVENTED_NAME in personal
    assert INVENTED_NAME.encode() not in (folder / "events.jsonl").read_bytes()


def change_one_byte(events: list[bytes]) -> tuple[list[bytes], int]:
    line = events[2]
    at = line.index(b'"time":"2026-11-02T') + len(b'"time":"2026-11-02T')
    events[2] = line[:at] + (b"1" if line[at : at + 1] != b"1" else b"2") + line[at + 1 :]
    return events, 2


def remove_one(events: list[bytes]) -> tuple[list[bytes], int]:
    del events[3]
    return events, 3


def remove_last(events: list[bytes]) -> tuple[list[bytes], int]:
    return events[:-1], -1


def swap_two(events: list[bytes]) -> tuple[list[bytes], int]:
    events[1], events[4] = events[4], events[1]
    return events, 1


@pytest.mark.parametrize("tamper", [change_one_byte, remove_one, remove_last, swap_two])
def test_a_tampered_bundle_fails_naming_the_event(
    exported: tuple[Path, list[str], CaseRef],
    tmp_path: Path,
    tamper: Callable[[list[bytes]], tuple[list[bytes], int]],
) -> None:
    source, _, _ = exported
    folder = Path(shutil.copytree(source, tmp_path / "copy"))
    original = [json.loads(line)["id"] for line in lines(folder)]
    changed, position = tamper(lines(folder))
    (folder / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in changed))

    checked = run_verifier(folder)

    assert checked.returncode == 1, checked.stdout
    assert checked.stdout.startswith("FAILED")
    if position >= 0:
        named = json.loads(changed[position])["id"]
        assert f"event {named} at position {position}" in checked.stdout
    else:
        assert f"the manifest says {len(original)}" in checked.stdout


async def test_only_legal_reviewers_export(cli: Cli, tmp_path: Path) -> None:
    result = await cli("export", "any-case", "--out", str(tmp_path / "b"), role="analyst")

    assert result.exit_code == 2
    assert "`export` is for the roles legal_reviewer" in result.output
    assert not (tmp_path / "b").exists()


def rehash(folder: Path) -> None:
    """Update the manifest's digests, as an attacker rewriting the bundle would."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def test_a_key_given_twice_is_refused_even_with_the_manifest_rehashed(
    exported: tuple[Path, list[str], CaseRef], tmp_path: Path
) -> None:
    source, ids, _ = exported
    folder = Path(shutil.copytree(source, tmp_path / "copy"))
    events = lines(folder)
    decision = json.loads(events[5])
    forged = dict(decision["data"], decision="malicious")
    # A lenient parser keeps the last `data` (the original): the hash would still match.
    events[5] = b'{"data":' + json.dumps(forged).encode() + b"," + events[5][1:]
    (folder / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in events))
    rehash(folder)

    checked = run_verifier(folder)

    assert checked.returncode == 1, checked.stdout
    assert f"event at position 5 (line 6) id {ids[5]}" in checked.stdout
    assert "appears twice" in checked.stdout


def test_a_non_canonical_line_and_an_altered_custody_line_fail(
    exported: tuple[Path, list[str], CaseRef], tmp_path: Path
) -> None:
    source, ids, _ = exported
    folder = Path(shutil.copytree(source, tmp_path / "copy"))
    events = lines(folder)
    events[1] = json.dumps(json.loads(events[1]), indent=1).replace("\n", "").encode()
    (folder / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in events))
    custody = (folder / "custody.jsonl").read_text().replace("SB-0042", "SB-0043", 1)
    (folder / "custody.jsonl").write_text(custody)
    rehash(folder)

    checked = run_verifier(folder)

    assert checked.returncode == 1, checked.stdout
    assert f"event {ids[1]} at position 1 (line 2): not written in canonical JSON" in (
        checked.stdout
    )
    assert f"custody line 1 does not match event {ids[1]} at position 1" in checked.stdout


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "custody.jsonl").write_text("{not json\n"),
        lambda f: (f / "manifest.json").write_text('{"case_id": "x"}'),
        lambda f: (f / "manifest.json").write_text('{"event_count": NaN}'),
        lambda f: next((f / "protocols").iterdir()).unlink(),
    ],
    ids=["custody-not-json", "manifest-keys-missing", "nan", "protocol-file-missing"],
)
def test_a_damaged_bundle_fails_with_a_reason_not_a_traceback(
    exported: tuple[Path, list[str], CaseRef], tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    source, _, _ = exported
    folder = Path(shutil.copytree(source, tmp_path / "copy"))
    damage(folder)

    checked = run_verifier(folder)

    assert checked.returncode == 1, checked.stdout
    assert checked.stdout.startswith("FAILED")
    assert "Traceback" not in checked.stderr


async def test_a_stored_body_not_in_canonical_json_fails_the_export_as_the_verifier_would(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, tmp_path: Path,
    tree: TreeRun,
) -> None:  # fmt: skip
    case = CaseRef(f"t{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    await write_case(store, case)
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies[:2], side_store, case)
    # as older code wrote them: compact, not key-sorted; the hash checks once re-encoded
    older = json.dumps(dict(reversed(json.loads(bodies[2].body).items())), separators=(",", ":"))
    await publish_raw(nc, side_store, case, "intake.note_added", older.encode())
    await copy_case(nc, bodies[3:], side_store, case)
    side = {"SEXTO_STREAM_NAME": side_store.spec.name,
            "SEXTO_SUBJECT_ROOT": side_store.spec.subject_root}  # fmt: skip

    verified = await cli("verify", "--case", case.case_id, **side)
    exported = await cli("export", case.case_id, "--out", str(tmp_path / "b"), **side)

    assert verified.exit_code == 0, verified.output
    assert exported.exit_code == 1, exported.output
    assert "not written in canonical JSON" in exported.output
    assert "position(s) 2" in exported.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["not_canonical_at_export"] == [2]
    checked = run_verifier(tmp_path / "b")
    assert checked.returncode == 1
    assert "position 2" in checked.stdout
    assert "not written in canonical JSON" in checked.stdout


def test_the_readme_says_the_transparency_log_catches_rehashing_and_what_to_keep(
    exported: tuple[Path, list[str], CaseRef],
) -> None:
    folder, _, case = exported
    readme = (folder / "README.md").read_text()

    assert "recomputes the hashes and the manifest" in readme
    assert "a dropped last event is caught" in readme
    assert "Keep `transparency/checkpoint.txt`" in readme
    assert "--log-key <the log's published key>" in readme
    assert f"case {case.case_id}" in readme
