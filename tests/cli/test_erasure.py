"""Crypto-shredding leaves a verifiable record without the personal data; holds stop it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client
from sexto_devstack.nats_server import NatsServer
from sexto_events.catalogue.legal import ErasureReason
from sexto_events.catalogue.notification import RecipientKind, RecipientRegistered
from sexto_events.epoch_lease import DEFAULT_LEASE_S
from sexto_events.model import CaseRef, NewEvent
from sexto_events.personal import KeyVault
from sexto_events.principal import Principal, Role
from sexto_events.store import EventStore
from sexto_legal.erasure import (
    RetentionSettings,
    retention_run,
    sealed_subjects,
    shred_subject,
)

from tests.cli.conftest import Cli, NewCase, close_case, write_case
from tests.conftest import MASTER_KEY
from tests.support.raw import copy_case
from tests.support.transparency import TreeRun


def invented_name() -> str:
    return "Isolde Marchbank " + "".join(chr(97 + int(c, 16)) for c in uuid.uuid4().hex[:6])


def stream_files_contain(nats_server: NatsServer, needle: str) -> bool:
    files = [f for f in nats_server.store_dir.rglob("*") if f.is_file()]
    return any(needle.encode() in f.read_bytes() for f in files)


def bundle_text(folder: Path) -> str:
    return "".join(f.read_text() for f in folder.rglob("*") if f.is_file())


def types_of(raws: list[bytes]) -> list[str]:
    return [json.loads(body)["type"].split(".")[2] + "." + json.loads(body)["type"].split(".")[3]
            for body in raws]  # fmt: skip


async def test_after_shredding_no_export_or_stream_file_holds_the_name_and_all_verifies(
    cli: Cli, store: EventStore, vault: KeyVault, nats_server: NatsServer, new_case: NewCase,
    tmp_path: Path,
) -> None:  # fmt: skip
    case, name = new_case(), invented_name()
    await write_case(store, case, name=name)
    await close_case(store, case, datetime(2026, 11, 20, tzinfo=UTC))
    before = await cli("export", case.case_id, "--out", str(tmp_path / "before"))
    assert before.exit_code == 0, before.output
    assert name in bundle_text(tmp_path / "before")

    subjects = [f"student:{case.case_id}:stu-1", f"case:{case.case_id}"]
    for subject in subjects:
        shredded = await cli("shred", subject, "--reason", "erasure_request", role="admin")
        assert shredded.exit_code == 0, shredded.output
    after = await cli("export", case.case_id, "--out", str(tmp_path / "after"))

    assert after.exit_code == 0, after.output
    assert name not in bundle_text(tmp_path / "after")
    checked = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-I", str(tmp_path / "after" / "verify.py")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout
    personal = [json.loads(line) for line in (tmp_path / "after" / "personal-data.jsonl")
                .read_text().splitlines()]  # fmt: skip
    assert personal
    assert all(row.get("erased") is True for row in personal)
    # the log's files never held the name (sealed), and do hold this case's events
    assert not stream_files_contain(nats_server, name)
    assert stream_files_contain(nats_server, case.case_id)
    assert await vault.keys_for_reading(subjects) == {}
    recorded = [json.loads(m.body) for m in await store.read_raw(case)]
    erasures = [r["data"] for r in recorded if r["type"] == "org.sexto.legal.subject_shredded.v1"]
    assert erasures == [
        {"subject_key": s, "reason": "erasure_request", "reference": None, "key_existed": True}
        for s in subjects
    ]


async def test_erasure_under_legal_hold_is_refused_until_the_hold_is_released(
    cli: Cli, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    subject = f"student:{case.case_id}:stu-1"

    by_analyst = await cli("legal-hold", case.case_id, "on", "--reason", "litigation",
                           role="analyst")  # fmt: skip
    placed = await cli("legal-hold", case.case_id, "on", "--reason", "court_order",
                       "--reference", "500-17-123456-261")  # fmt: skip
    refused = await cli("shred", subject, "--reason", "erasure_request", role="admin")

    assert by_analyst.exit_code == 2
    assert placed.exit_code == 0, placed.output
    assert refused.exit_code == 2
    assert "under legal hold" in refused.output
    assert subject in await vault.keys_for_reading([subject])
    kinds = [json.loads(m.body)["type"] for m in await store.read_raw(case)]
    assert "org.sexto.legal.hold_placed.v1" in kinds
    assert "org.sexto.legal.subject_shredded.v1" not in kinds

    wrong = await cli("legal-hold", case.case_id, "off", "--reason", "court_order")
    released = await cli("legal-hold", case.case_id, "off", "--reason", "court_order",
                         "--reference", "500-17-123456-261")  # fmt: skip
    allowed = await cli("shred", subject, "--reason", "erasure_request", role="admin")

    assert wrong.exit_code == 2
    assert "name the hold you release" in wrong.output
    assert released.exit_code == 0, released.output
    assert allowed.exit_code == 0, allowed.output
    assert await vault.keys_for_reading([subject]) == {}


async def test_shredding_an_unknown_subject_is_refused(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)

    typo = await cli("shred", f"student:{case.case_id}:stu-9", "--reason", "erasure_request",
                     role="admin")  # fmt: skip
    malformed = await cli("shred", "Isolde", "--reason", "erasure_request", role="admin")

    assert typo.exit_code == 2
    assert "no personal data of" in typo.output
    assert malformed.exit_code == 2
    assert "is not a subject key" in malformed.output


async def test_retention_erases_expired_closed_cases_except_under_hold(
    cli: Cli, nc: Client, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    expired, held, recent = new_case(), new_case(), new_case()
    for case in (expired, held, recent):
        await write_case(store, case)
    await close_case(store, expired, datetime(2015, 6, 30, tzinfo=UTC))
    await close_case(store, held, datetime(2015, 6, 30, tzinfo=UTC))
    await close_case(store, recent, datetime(2026, 11, 20, tzinfo=UTC))
    assert (await cli("legal-hold", held.case_id, "on", "--reason", "inquiry")).exit_code == 0
    admin = Principal("admin-retention", Role.ADMIN)
    settings = RetentionSettings(years={"sexto-qc": 5})
    now = datetime(2026, 11, 21, tzinfo=UTC)

    async def run(dry_run: bool) -> dict[CaseRef, str]:
        decisions = await retention_run(nc, store, vault, admin, settings=settings, now=now,
                                        dry_run=dry_run)  # fmt: skip
        return {d.case: d.action for d in decisions if d.case in (expired, held, recent)}

    planned = await run(dry_run=True)
    expired_keys = sealed_subjects([json.loads(m.body) for m in await store.read_raw(expired)])
    assert len(await vault.keys_for_reading(expired_keys)) == 2
    done = await run(dry_run=False)
    again = await run(dry_run=False)

    assert planned == {expired: "would_erase", held: "kept_on_hold", recent: "not_due"}
    assert done == {expired: "erased", held: "kept_on_hold", recent: "not_due"}
    assert again == {expired: "already_erased", held: "kept_on_hold", recent: "not_due"}
    assert await vault.keys_for_reading(expired_keys) == {}
    held_keys = sealed_subjects([json.loads(m.body) for m in await store.read_raw(held)])
    assert len(await vault.keys_for_reading(held_keys)) == 2
    assert types_of([m.body for m in await store.read_raw(expired)])[-1] == "legal.case_erased"


async def test_retention_command_dry_run(cli: Cli) -> None:
    result = await cli("retention", "run", "--dry-run", role="admin",
                       SEXTO_RETENTION_YEARS='{"sexto-qc": 5, "uk-dsl": 6}')  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "retention (dry run)" in result.stdout
    assert '"uk-dsl": 6' in result.stdout


class FailingOnce(KeyVault):
    """A vault whose first key deletion fails (a crash between the record and the delete)."""

    def __init__(self, vault: KeyVault) -> None:
        super().__init__(vault._pool, MASTER_KEY, lease_seconds=vault.lease.seconds)
        self.failed = False

    async def shred(self, subject: str, *, settle: bool = True) -> bool:
        if not self.failed:
            self.failed = True
            raise OSError("connection to the key store lost")
        return await super().shred(subject, settle=settle)


def kinds(raws: list[bytes]) -> list[str]:
    return types_of(raws)


async def test_an_interrupted_shred_is_finished_even_under_a_hold_placed_since(
    cli: Cli, nc: Client, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    subject = f"student:{case.case_id}:stu-1"
    admin = Principal("admin-erasure", Role.ADMIN)

    with pytest.raises(OSError, match="key store lost"):
        await shred_subject(nc, store, FailingOnce(vault), subject, admin,
                            reason=ErasureReason.ERASURE_REQUEST)  # fmt: skip
    assert subject in await vault.keys_for_reading([subject])  # recorded, not yet deleted
    placed = await cli("legal-hold", case.case_id, "on", "--reason", "complaint")
    rerun = await cli("shred", subject, "--reason", "erasure_request", role="admin")

    assert placed.exit_code == 0, placed.output
    assert rerun.exit_code == 0, rerun.output
    assert "already on record; finished it (key deleted)" in rerun.stdout
    assert await vault.keys_for_reading([subject]) == {}
    recorded = kinds([m.body for m in await store.read_raw(case)])
    assert recorded.count("legal.subject_shredded") == 1


async def test_an_interrupted_retention_erasure_is_finished_on_the_next_run(
    cli: Cli, nc: Client, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    await close_case(store, case, datetime(2015, 6, 30, tzinfo=UTC))
    admin = Principal("admin-retention", Role.ADMIN)
    settings = RetentionSettings(years={"sexto-qc": 5})
    now = datetime(2026, 11, 21, tzinfo=UTC)
    keys = sealed_subjects([json.loads(m.body) for m in await store.read_raw(case)])

    async def run(on: KeyVault) -> str:
        decisions = await retention_run(nc, store, on, admin, settings=settings, now=now,
                                        dry_run=False)  # fmt: skip
        return next(d.action for d in decisions if d.case == case)

    with pytest.raises(OSError, match="key store lost"):
        await run(FailingOnce(vault))
    assert len(await vault.keys_for_reading(keys)) == 2
    assert (await cli("legal-hold", case.case_id, "on", "--reason", "inquiry")).exit_code == 0
    finished = await run(vault)
    again = await run(vault)

    assert (finished, again) == ("erasure_finished", "already_erased")
    assert await vault.keys_for_reading(keys) == {}


async def test_a_retention_run_returns_once_no_other_vault_can_use_an_erased_key(
    nc: Client, store: EventStore, pool: asyncpg.Pool, new_case: NewCase,
    longer_leases_forgotten: None,
) -> None:  # fmt: skip
    case = new_case()
    await write_case(store, case)
    await close_case(store, case, datetime(2015, 6, 30, tzinfo=UTC))
    keys = sealed_subjects([json.loads(m.body) for m in await store.read_raw(case)])
    # Both with the default lease: another process's vault, warm, and the one erasing.
    reading, erasing = KeyVault(pool, MASTER_KEY), KeyVault(pool, MASTER_KEY)
    assert reading.lease.seconds == DEFAULT_LEASE_S
    assert len(await reading.keys_for_reading(keys)) == 2
    reads, leased_at = reading.lease.reads, reading.lease.clock()
    assert len(await reading.keys_for_reading(keys)) == 2  # from its cache, leased
    if reading.lease.clock() - leased_at < DEFAULT_LEASE_S / 2:  # not a very busy machine
        assert reading.lease.reads == reads
    reads = reading.lease.reads

    admin = Principal("admin-retention", Role.ADMIN)
    decisions = await retention_run(
        nc, store, erasing, admin, settings=RetentionSettings(years={"sexto-qc": 5}),
        now=datetime(2026, 11, 21, tzinfo=UTC), dry_run=False,
    )  # fmt: skip

    assert next(d.action for d in decisions if d.case == case) == "erased"
    assert await reading.keys_for_reading(keys) == {}
    assert reading.lease.reads == reads + 1


async def test_the_case_key_of_an_open_case_is_shredded_only_with_force(
    cli: Cli, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    subject = f"case:{case.case_id}"

    refused = await cli("shred", subject, "--reason", "court_order", role="admin")
    forced = await cli("shred", subject, "--reason", "court_order", "--force", role="admin")

    assert refused.exit_code == 2
    assert "is open" in refused.output
    assert "--force" in refused.output
    assert forced.exit_code == 0, forced.output
    assert "warning" in forced.output
    assert await vault.keys_for_reading([subject]) == {}


async def test_a_hold_goes_on_a_broken_case_and_retention_reports_it_and_goes_on(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, vault: KeyVault,
    new_case: NewCase, tree: TreeRun,
) -> None:  # fmt: skip
    broken, sound = new_case(), new_case()
    for case in (broken, sound):
        await write_case(store, case)
        await close_case(store, case, datetime(2015, 6, 30, tzinfo=UTC))
    bodies = await store.read_raw(broken)
    await copy_case(nc, bodies[:2] + bodies[3:], side_store, broken)
    await copy_case(nc, await store.read_raw(sound), side_store, sound)
    side = {"SEXTO_STREAM_NAME": side_store.spec.name,
            "SEXTO_SUBJECT_ROOT": side_store.spec.subject_root}  # fmt: skip

    placed = await cli("legal-hold", broken.case_id, "on", "--reason", "police_investigation",
                       **side)  # fmt: skip
    shred = await cli("shred", f"student:{broken.case_id}:stu-1", "--reason", "erasure_request",
                      role="admin", **side)  # fmt: skip
    decisions = await retention_run(
        nc, side_store, vault, Principal("admin-retention", Role.ADMIN),
        settings=RetentionSettings(years={"sexto-qc": 5}), now=datetime(2026, 11, 21, tzinfo=UTC),
        dry_run=True,
    )  # fmt: skip
    command = await cli("retention", "run", "--dry-run", "--now", "2026-11-21T00:00:00Z",
                        role="admin", SEXTO_RETENTION_YEARS='{"sexto-qc": 5}', **side)  # fmt: skip

    assert placed.exit_code == 0, placed.output
    assert kinds([m.body for m in await side_store.read_raw(broken)])[-1] == "legal.hold_placed"
    assert shred.exit_code == 2
    assert "erasure is refused while the record does not verify" in shred.output
    actions = {d.case: d.action for d in decisions}
    assert actions == {broken: "chain_broken", sound: "would_erase"}
    assert command.exit_code == 1, command.output
    assert "chain_broken" in command.stdout
    assert "would_erase" in command.stdout


async def test_a_student_is_shredded_with_their_parents_address(
    cli: Cli, store: EventStore, vault: KeyVault, new_case: NewCase, tmp_path: Path
) -> None:
    case = new_case()
    await write_case(store, case, name=invented_name())
    parents = [
        RecipientRegistered(recipient_ref=ref, kind=RecipientKind.PARENT, student_ref=student,
                            email=f"{ref}.parent@example.org")
        for ref, student in (("rcp-1", "stu-1"), ("rcp-2", "stu-1"), ("rcp-9", "stu-9"))
    ]  # fmt: skip
    version = (await store.load(case)).version
    await store.append(case, [NewEvent(p, "intervener-7", "intervener") for p in parents], version)
    student = f"student:{case.case_id}:stu-1"
    family = [f"recipient:{case.case_id}:rcp-1", f"recipient:{case.case_id}:rcp-2"]
    other_parent = f"recipient:{case.case_id}:rcp-9"

    shredded = await cli("shred", student, "--reason", "erasure_request", role="admin")
    again = await cli("shred", student, "--reason", "erasure_request", role="admin")
    exported = await cli("export", case.case_id, "--out", str(tmp_path / "bundle"))

    assert shredded.exit_code == 0, shredded.output
    assert ", ".join(family) in " ".join(shredded.output.split())
    assert again.exit_code == 0, again.output
    assert await vault.keys_for_reading([student, *family]) == {}
    assert other_parent in await vault.keys_for_reading([other_parent])  # not their parent
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in (tmp_path / "bundle" / "personal-data.jsonl")
            .read_text().splitlines()]  # fmt: skip
    of_family = [r for r in rows if r["subject_key"] in (student, *family)]
    assert len(of_family) == 3  # the student's name, two parents' addresses
    assert all(r.get("erased") is True and "value" not in r for r in of_family)
    text = bundle_text(tmp_path / "bundle")
    assert "rcp-1.parent@example.org" not in text
    assert "rcp-2.parent@example.org" not in text
    assert "rcp-9.parent@example.org" in text
    recorded = [json.loads(m.body) for m in await store.read_raw(case)]
    erased = [r["data"]["subject_key"] for r in recorded
              if r["type"] == "org.sexto.legal.subject_shredded.v1"]  # fmt: skip
    assert erased == [student, *family]  # recorded once, in one append, before the keys went


async def test_a_parent_registered_after_the_students_erasure_is_erased_on_the_next_shred(
    cli: Cli, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case, name=invented_name())
    student = f"student:{case.case_id}:stu-1"
    first = await cli("shred", student, "--reason", "erasure_request", role="admin")
    parent = RecipientRegistered(recipient_ref="rcp-late", kind=RecipientKind.PARENT,
                                 student_ref="stu-1", email="late.parent@example.org")  # fmt: skip
    version = (await store.load(case)).version
    await store.append(case, [NewEvent(parent, "intervener-7", "intervener")], version)
    late = f"recipient:{case.case_id}:rcp-late"
    assert late in await vault.keys_for_reading([late])

    again = await cli("shred", student, "--reason", "erasure_request", role="admin")

    assert first.exit_code == again.exit_code == 0, again.output
    assert await vault.keys_for_reading([late]) == {}
    recorded = [json.loads(m.body) for m in await store.read_raw(case)]
    erased = [r["data"]["subject_key"] for r in recorded
              if r["type"] == "org.sexto.legal.subject_shredded.v1"]  # fmt: skip
    assert erased == [student, late]
