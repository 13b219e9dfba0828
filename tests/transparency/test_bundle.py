"""A court bundle proves inclusion and completeness: verify.py (standard library only, with
tlog_check.py beside it) accepts a bundle as exported and refuses, naming what failed,
every bundle an attacker who can edit the folder (and recompute its chain and manifest)
could make: an event missing first, in the middle or last, reordered, edited, a checkpoint
of another key, a cosignature removed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client
from sexto_events.disclosure import Viewer
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.principal import Principal, Role
from sexto_events.store import EventStore
from sexto_legal import tlog_check as t
from sexto_legal.export import build_bundle
from sexto_legal.transparency.api import TreeClient
from sexto_legal.transparency.evidence import NotWitnessed
from sexto_legal.transparency.signing import Signer, sign_checkpoint
from sexto_legal.transparency.tree import TreeProcess, stop_tasks

from tests.support.events import note, reported
from tests.support.transparency import (
    LOG_KEY,
    ORIGIN,
    TreeRun,
    WitnessRun,
    event_settings,
    tree_settings,
)

REVIEWER = Principal("reviewer-1", Role.LEGAL_REVIEWER)


@pytest.fixture
async def bundle(side_store: EventStore, tree: TreeRun, tmp_path: Path) -> Path:
    """A case of five events, interleaved with another case's, exported to a folder."""
    case, other = (CaseRef(f"t{uuid.uuid4().hex[:8]}", uuid.uuid4().hex) for _ in range(2))
    versions = {case: CaseVersion.new(), other: CaseVersion.new()}
    for step in range(5):
        for ref in (case, other):
            event = reported(student_ref="stu-1") if step == 0 else note(f"n{step}")
            versions[ref] = (await side_store.append(ref, [event], versions[ref])).version
    built = await build_bundle(
        side_store, case, tree=tree.client, exported_by=REVIEWER,
        viewer=Viewer.of(REVIEWER), now=datetime.now(UTC),
    )  # fmt: skip
    return built.write(tmp_path / "bundle")


def verify(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """verify.py as a court would run it: isolated from this project's packages."""
    return subprocess.run([sys.executable, "-I", str(folder / "verify.py"), *args],
                          capture_output=True, text=True, check=False)  # fmt: skip


def rewrite(folder: Path, keep: list[int]) -> None:
    """What someone able to edit the folder can do: keep these events (and their proof
    lines) in this order, re-chain them, and recompute the manifest's count, head hash and
    file digests."""
    lines = (folder / "events.jsonl").read_bytes().splitlines()
    proofs = (folder / "transparency/proofs.jsonl").read_bytes().splitlines()
    envelopes = [json.loads(lines[i]) for i in keep]
    previous = ""
    for env in envelopes:
        env["prevhash"] = previous
        body = {k: v for k, v in env.items() if k != "hash"}
        env["hash"] = hashlib.sha256(_canonical(body)).hexdigest()
        previous = env["hash"]
    (folder / "events.jsonl").write_bytes(b"".join(_canonical(e) + b"\n" for e in envelopes))
    (folder / "transparency/proofs.jsonl").write_bytes(b"".join(proofs[i] + b"\n" for i in keep))
    refresh_manifest(folder, count=len(keep), head=previous)


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def refresh_manifest(folder: Path, count: int | None = None, head: str | None = None) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    if count is not None:
        manifest["event_count"], manifest["head_hash"] = count, head
    manifest["files"] = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in manifest["files"]
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


async def test_the_exported_bundle_verifies_and_names_the_checkpoint_to_keep(
    bundle: Path, witness: WitnessRun
) -> None:
    checked = verify(bundle, "--log-key", LOG_KEY.verifier.vkey(),
                     "--witness", witness.signer.verifier.vkey(), "--quorum", "1")  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    assert "OK: 5 events" in checked.stdout
    assert f"checkpoint: {ORIGIN}, tree size 10" in checked.stdout
    assert f"log key: {LOG_KEY.verifier.vkey()}" in checked.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["transparency"]["log_key"] == LOG_KEY.verifier.vkey()
    assert manifest["transparency"]["origin"] == ORIGIN
    assert f"case head: leaf 8 of that checkpoint, event hash {manifest['head_hash']}" in (
        checked.stdout
    )


@pytest.mark.parametrize(
    ("keep", "named"),
    [
        ([1, 2, 3, 4], "the log numbers it 1 among the case's events (events missing before it"),
        ([0, 1, 3, 4], "the log links it to leaf 4, the bundle's previous event is leaf 2"),
        ([0, 1, 2, 3], "the log says the case has 5 events up to tree size 10, the bundle holds 4"),
        ([0, 2, 1, 3, 4], "the log numbers it 2 among the case's events"),
    ],
    ids=["first-missing", "middle-missing", "last-missing", "reordered"],
)
async def test_an_incomplete_or_reordered_bundle_is_refused(
    bundle: Path, keep: list[int], named: str
) -> None:
    rewrite(bundle, keep)
    checked = verify(bundle)
    assert checked.returncode == 1
    assert named in checked.stdout


async def test_an_edited_event_with_its_chain_and_manifest_recomputed_is_refused(
    bundle: Path,
) -> None:
    lines = (bundle / "events.jsonl").read_bytes().splitlines()
    edited = json.loads(lines[2])
    edited["actor"] = "someone-else"
    lines[2] = _canonical(edited)
    (bundle / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    rewrite(bundle, [0, 1, 2, 3, 4])
    checked = verify(bundle)
    assert checked.returncode == 1
    assert "at position 2: not in the log as signed: inclusion proof of leaf 4" in checked.stdout


async def test_a_checkpoint_of_another_key_is_refused_against_the_published_key(
    bundle: Path,
) -> None:
    impostor = Signer(ORIGIN, t.SIG_ED25519, bytes(32))
    genuine = t.parse_checkpoint(
        t.split_note((bundle / "transparency/checkpoint.txt").read_bytes())[0]
    )
    (bundle / "transparency/checkpoint.txt").write_bytes(sign_checkpoint(genuine, impostor))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["transparency"]["log_key"] = impostor.verifier.vkey()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    refresh_manifest(bundle)
    checked = verify(bundle, "--log-key", LOG_KEY.verifier.vkey())
    assert checked.returncode == 1
    assert f"note is not signed by {LOG_KEY.verifier.name}+{LOG_KEY.verifier.key_id.hex()}" in (
        checked.stdout
    )


async def test_a_checkpoint_without_its_witness_cosignature_is_refused(
    bundle: Path, witness: WitnessRun
) -> None:
    note = (bundle / "transparency/checkpoint.txt").read_bytes()
    (bundle / "transparency/checkpoint.txt").write_bytes(
        b"".join(line for line in note.splitlines(keepends=True)
                 if witness.signer.name.encode() not in line))  # fmt: skip
    refresh_manifest(bundle)
    checked = verify(bundle)
    assert checked.returncode == 1
    assert f"checkpoint has no cosignature by witness {witness.signer.name}" in checked.stdout


def strip_cosignatures(folder: Path, witness: WitnessRun, quorum: int) -> None:
    """What someone able to edit the folder can do: drop the witness's cosignature and write
    the quorum they like into the manifest."""
    note = (folder / "transparency/checkpoint.txt").read_bytes()
    (folder / "transparency/checkpoint.txt").write_bytes(
        b"".join(line for line in note.splitlines(keepends=True)
                 if witness.signer.name.encode() not in line))  # fmt: skip
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["transparency"]["quorum"] = quorum
    (folder / "manifest.json").write_text(json.dumps(manifest))
    refresh_manifest(folder)


async def test_a_manifest_quorum_of_zero_never_excuses_a_missing_cosignature(
    bundle: Path, witness: WitnessRun
) -> None:
    strip_cosignatures(bundle, witness, quorum=0)
    pinned = verify(bundle, "--log-key", LOG_KEY.verifier.vkey(),
                    "--witness", witness.signer.verifier.vkey())  # fmt: skip
    assert pinned.returncode == 1, pinned.stdout
    assert "0 valid cosignature(s) from distinct trusted witnesses, 1 required" in pinned.stdout
    unpinned = verify(bundle)
    assert unpinned.returncode == 1, unpinned.stdout
    assert "a quorum of 0 witness cosignatures proves nothing" in unpinned.stdout
    asked = verify(bundle, "--log-key", LOG_KEY.verifier.vkey(), "--quorum", "0")
    assert asked.returncode == 1, asked.stdout


async def test_without_pinned_keys_the_ok_says_it_proves_nothing_about_who_runs_the_log(
    bundle: Path, witness: WitnessRun
) -> None:
    unpinned = verify(bundle)
    assert unpinned.returncode == 0, unpinned.stdout
    assert "WARNING: keys not pinned" in unpinned.stdout
    assert "proves nothing about who runs the log" in unpinned.stdout
    pinned = verify(bundle, "--log-key", LOG_KEY.verifier.vkey(),
                    "--witness", witness.signer.verifier.vkey())  # fmt: skip
    assert pinned.returncode == 0, pinned.stdout
    assert "WARNING" not in pinned.stdout


async def test_the_verifier_needs_nothing_but_its_folder(bundle: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(bundle, tmp_path / "elsewhere")
    checked = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-I", "-S", "verify.py"], cwd=moved,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


AWAY = Signer("witness.test/away", t.SIG_COSIGNATURE_V1, bytes(range(5, 37)))


@pytest.mark.parametrize(
    ("witnesses", "named"),
    [([AWAY], "0 valid cosignature"), ([], "no witness configured")],
    ids=["witness-away", "no-witness-configured"],
)
async def test_no_bundle_is_made_that_no_witness_cosigned(
    nc: Client, side_store: EventStore, tree_pool: asyncpg.Pool, witnesses: list[Signer],
    named: str,
) -> None:  # fmt: skip
    settings = tree_settings(witnesses, uuid.uuid4().hex[:8], witness_timeout_s=0.2)
    process = TreeProcess(nc, tree_pool, LOG_KEY, settings, event_settings(side_store))
    await process.setup()
    task = asyncio.create_task(process.run())
    case = CaseRef(f"t{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
    await side_store.append(case, [reported()], CaseVersion.new())
    try:
        with pytest.raises(NotWitnessed, match=named):
            await build_bundle(
                side_store, case, tree=TreeClient(nc, side_store.spec.name),
                exported_by=REVIEWER, viewer=Viewer.of(REVIEWER), now=datetime.now(UTC),
            )  # fmt: skip
    finally:
        await stop_tasks({task})  # cancelled again if a cancellation is lost
        await process.close()


async def test_a_bundle_is_checked_against_a_checkpoint_kept_from_before(
    side_store: EventStore, tree: TreeRun, tmp_path: Path
) -> None:
    # A reviewer keeps a checkpoint; a later bundle must prove the log only grew since.
    case = CaseRef(f"t{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
    first = await side_store.append(case, [reported(student_ref="stu-1")], CaseVersion.new())
    kept_note = await tree.client.checkpoint(first.version.seq)
    kept = t.parse_checkpoint(t.split_note(kept_note)[0])
    await side_store.append(case, [note("later")], first.version)
    built = await build_bundle(
        side_store, case, tree=tree.client, exported_by=REVIEWER,
        viewer=Viewer.of(REVIEWER), now=datetime.now(UTC),
    )  # fmt: skip
    folder = built.write(tmp_path / "later")
    newer = t.parse_checkpoint(
        t.split_note((folder / "transparency/checkpoint.txt").read_bytes())[0]
    )
    assert newer.size > kept.size >= 1
    proof = await tree.client.consistency(kept.size, newer.size)
    assert proof
    (tmp_path / "kept.txt").write_bytes(kept_note)
    (tmp_path / "proof.txt").write_text("".join(base64.b64encode(h).decode() + "\n" for h in proof))
    pinned = ["--log-key", LOG_KEY.verifier.vkey(), "--kept", str(tmp_path / "kept.txt")]

    held = verify(folder, *pinned, "--consistency", str(tmp_path / "proof.txt"))
    assert held.returncode == 0, held.stdout

    # A proof that does not lead from what was kept to the bundle's tree, or none at all.
    short_proof = "".join(base64.b64encode(h).decode() + "\n" for h in proof[:-1])
    (tmp_path / "short.txt").write_text(short_proof)
    short = verify(folder, *pinned, "--consistency", str(tmp_path / "short.txt"))
    assert short.returncode == 1, short.stdout
    assert "kept checkpoint: consistency" in short.stdout
    missing = verify(folder, *pinned)
    assert missing.returncode == 1, missing.stdout
    # A kept checkpoint of another tree (its root changed) no longer carries the log's
    # signature; and one re-signed by another key is not the log's.
    forged = t.Checkpoint(kept.origin, kept.size, hashlib.sha256(b"another tree").digest())
    other = Signer(ORIGIN, t.SIG_ED25519, bytes(range(40, 72)))
    (tmp_path / "forged.txt").write_bytes(sign_checkpoint(forged, other))
    refused = verify(folder, "--log-key", LOG_KEY.verifier.vkey(),
                     "--kept", str(tmp_path / "forged.txt"),
                     "--consistency", str(tmp_path / "proof.txt"))  # fmt: skip
    assert refused.returncode == 1, refused.stdout
    assert "kept checkpoint:" in refused.stdout
