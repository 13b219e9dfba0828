"""Erasure records: trusted only when the chain verifies through them, deleting only the
case's own keys; many data subjects split over records; subjects sealed after an erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from nats.aio.client import Client
from sexto_events.catalogue.intake import StudentAdded, StudentInvolved, StudentRole
from sexto_events.catalogue.notification import RecipientKind, RecipientRegistered
from sexto_events.model import CaseRef, NewEvent
from sexto_events.personal import KeyVault
from sexto_events.principal import Principal, Role
from sexto_events.store import EventStore
from sexto_legal.erasure import RetentionDecision, RetentionSettings, retention_run

from tests.cli.conftest import Cli, NewCase, close_case, write_case
from tests.support.raw import copy_case, envelope_for, publish_raw

ADMIN = Principal("admin-retention", Role.ADMIN)
SETTINGS = RetentionSettings(years={"sexto-qc": 5})
NOW = datetime(2026, 11, 21, tzinfo=UTC)
CLOSED = datetime(2015, 6, 30, tzinfo=UTC)


def side_env(store: EventStore) -> dict[str, str]:
    return {"SEXTO_STREAM_NAME": store.spec.name, "SEXTO_SUBJECT_ROOT": store.spec.subject_root}


async def retention(nc: Client, store: EventStore, vault: KeyVault, case: CaseRef, *,
                    dry_run: bool = False) -> RetentionDecision:  # fmt: skip
    decisions = await retention_run(nc, store, vault, ADMIN, settings=SETTINGS, now=NOW,
                                    dry_run=dry_run)  # fmt: skip
    return next(d for d in decisions if d.case == case)


async def raws_of(store: EventStore, case: CaseRef) -> list[dict[str, object]]:
    return [json.loads(m.body) for m in await store.read_raw(case)]


async def forge(
    nc: Client, store: EventStore, case: CaseRef, kind: str, data: dict[str, object]
) -> None:
    """Append a hand-made legal record chained to the case's last stored event."""
    last = (await raws_of(store, case))[-1]
    env = envelope_for(case, f"org.sexto.legal.{kind}.v1", data, str(last["hash"]))
    await publish_raw(nc, store, case, f"legal.{kind}", json.dumps(env.to_dict()).encode())


def erased(keys: list[str]) -> dict[str, object]:
    return {"reason": "retention_expired", "protocol": "sexto-qc", "retention_years": 5,
            "closed_at": "2015-06-30T00:00:00Z", "subject_keys": keys}  # fmt: skip


async def test_an_erasure_record_after_a_break_erases_nothing_and_is_reported(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, vault: KeyVault,
    new_case: NewCase,
) -> None:  # fmt: skip
    case, other = new_case(), new_case()
    await write_case(store, case)
    await write_case(store, other)
    await close_case(store, case, CLOSED)
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies[:2] + bodies[3:], side_store, case)  # an event removed
    mine = [f"case:{case.case_id}", f"student:{case.case_id}:stu-1"]
    theirs = [f"case:{other.case_id}", f"student:{other.case_id}:stu-1"]
    await forge(nc, side_store, case, "subject_shredded",
                {"subject_key": mine[1], "reason": "erasure_request", "reference": None,
                 "key_existed": True})  # fmt: skip
    await forge(nc, side_store, case, "case_erased", erased(mine + theirs))

    decided = await retention(nc, side_store, vault, case)
    shred = await cli("shred", mine[1], "--reason", "erasure_request", role="admin",
                      **side_env(side_store))  # fmt: skip

    assert decided.action == "chain_broken"
    assert "erasure record after the break" in decided.note
    assert shred.exit_code == 2
    assert "erasure is refused while the record does not verify" in shred.output
    assert sorted(await vault.keys_for_reading(mine + theirs)) == sorted(mine + theirs)


async def test_a_verified_erasure_record_deletes_only_keys_of_its_own_case(
    nc: Client, store: EventStore, side_store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case, other = new_case(), new_case()
    await write_case(store, case)
    await write_case(store, other)
    await close_case(store, case, CLOSED)
    await copy_case(nc, await store.read_raw(case), side_store, case)
    mine = [f"case:{case.case_id}", f"student:{case.case_id}:stu-1"]
    theirs = [f"case:{other.case_id}", f"student:{other.case_id}:stu-1"]
    await forge(nc, side_store, case, "case_erased", erased(mine + theirs))

    decided = await retention(nc, side_store, vault, case)

    assert decided.action == "erasure_finished"
    assert decided.subject_keys == tuple(sorted(mine))
    assert "2 listed key(s) not of this case left alone" in decided.note
    assert await vault.keys_for_reading(mine) == {}
    assert sorted(await vault.keys_for_reading(theirs)) == sorted(theirs)


async def test_a_case_with_hundreds_of_data_subjects_is_erased_over_several_records(
    nc: Client, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    SENDER = StudentRole.SENDER  # noqa: N806
    added = [
        NewEvent(StudentAdded(student=StudentInvolved(student_ref=f"s{i}", roles=[SENDER],
                                                      name=f"Invented Pupil {i}")),
                 "intervener-7", "intervener")
        for i in range(230)
    ]  # fmt: skip
    for start in range(0, len(added), 100):
        version = (await store.load(case)).version
        await store.append(case, added[start : start + 100], version)
    await close_case(store, case, CLOSED)

    done = await retention(nc, store, vault, case)
    again = await retention(nc, store, vault, case)

    assert done.action == "erased", done.note
    assert len(done.subject_keys) == 232  # 230 added, stu-1, the case
    records = [
        r for r in await raws_of(store, case) if r["type"] == "org.sexto.legal.case_erased.v1"
    ]
    assert [len(r["data"]["subject_keys"]) for r in records] == [200, 32]  # type: ignore[index]
    assert await vault.keys_for_reading(list(done.subject_keys)) == {}
    assert again.action == "already_erased"


async def test_a_subject_sealed_after_the_erasure_is_erased_and_recorded_on_the_next_run(
    nc: Client, store: EventStore, vault: KeyVault, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    await close_case(store, case, CLOSED)
    assert (await retention(nc, store, vault, case)).action == "erased"
    recipient = RecipientRegistered(recipient_ref="rcp-1", kind=RecipientKind.PARENT,
                                    student_ref="stu-1", email="parent@example.org")  # fmt: skip
    version = (await store.load(case)).version
    await store.append(case, [NewEvent(recipient, "intervener-7", "intervener")], version)
    key = f"recipient:{case.case_id}:rcp-1"
    assert key in await vault.keys_for_reading([key])

    planned = await retention(nc, store, vault, case, dry_run=True)
    done = await retention(nc, store, vault, case)
    again = await retention(nc, store, vault, case)

    assert (planned.action, planned.subject_keys) == ("would_erase", (key,))
    assert (done.action, done.subject_keys) == ("erased", (key,))
    assert again.action == "already_erased"
    assert await vault.keys_for_reading([key]) == {}
    records = [
        r for r in await raws_of(store, case) if r["type"] == "org.sexto.legal.case_erased.v1"
    ]
    assert records[-1]["data"]["subject_keys"] == [key]  # type: ignore[index]
