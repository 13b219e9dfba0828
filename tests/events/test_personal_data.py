"""Personal data: sealed in the log, erasable by shredding its subject's key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sexto_devstack.nats_server import NatsServer
from sexto_events.catalogue.base import ERASED
from sexto_events.catalogue.intake import CaseReported
from sexto_events.errors import EventLogError, EventSchemaError, SubjectErased
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.personal import KeyVault, open_value, seal_value, subject_id
from sexto_events.store import EventStore

from tests.support.events import INVENTED_SUMMARY, reported


def stream_files_contain(store_dir: Path, needle: bytes) -> bool:
    return any(needle in f.read_bytes() for f in store_dir.rglob("*") if f.is_file())


async def test_names_and_free_text_never_reach_the_stream_in_plaintext(
    store: EventStore, nats_server: NatsServer, new_case: Callable[[], CaseRef]
) -> None:
    name = "Ottoline Vantablack-Sorrel"
    case = new_case()
    await store.append(case, [reported(name=name)], CaseVersion.new())

    body = (await store.read_raw(case))[0].body
    assert name.encode() not in body
    assert INVENTED_SUMMARY.encode() not in body
    assert not stream_files_contain(nats_server.store_dir, name.encode())
    loaded = (await store.load(case)).events[0].data
    assert isinstance(loaded, CaseReported)
    assert loaded.students[0].name == name


async def test_after_shred_the_case_verifies_and_the_fields_read_erased(
    store: EventStore, vault: KeyVault, nats_server: NatsServer, new_case: Callable[[], CaseRef]
) -> None:
    name = "Peregrina Moonwhistle"
    case = new_case()
    await store.append(
        case, [reported(name=name, student_ref=f"s-{case.case_id[:8]}")], CaseVersion.new()
    )
    stored_before = [m.body for m in await store.read_raw(case)]

    assert await vault.shred(subject_id("student", case.case_id, f"s-{case.case_id[:8]}"))
    loaded = await store.load(case)  # verifies the chain: raises if it does not

    data = loaded.events[0].data
    assert isinstance(data, CaseReported)
    assert data.students[0].name == ERASED
    assert data.summary == INVENTED_SUMMARY  # the case's own key is untouched
    assert [m.body for m in await store.read_raw(case)] == stored_before
    assert not stream_files_contain(nats_server.store_dir, name.encode())


async def test_a_shredded_subject_takes_no_new_personal_data(
    store: EventStore, vault: KeyVault, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    ref = f"s-{case.case_id[:8]}"
    await vault.shred(subject_id("student", case.case_id, ref))

    with pytest.raises(SubjectErased, match="erased"):
        await store.append(case, [reported(student_ref=ref)], CaseVersion.new())
    assert await store.read_raw(case) == []


def test_ciphertext_is_bound_to_its_event() -> None:
    key = bytes(32)
    sealed = seal_value(key, "student:s1", "event-a", "Ysolde Brightwater")

    assert open_value(key, "event-a", sealed, "name") == "Ysolde Brightwater"
    with pytest.raises(EventSchemaError, match="does not authenticate"):
        open_value(key, "event-b", sealed, "name")
    assert open_value(None, "event-a", sealed, "name") == {"erased": True}


def test_plaintext_where_ciphertext_belongs_is_refused() -> None:
    with pytest.raises(EventSchemaError, match="stored without encryption"):
        open_value(bytes(32), "event-a", "Ysolde Brightwater", "name")


async def test_keys_under_another_master_key_give_a_clear_error(
    store: EventStore, vault: KeyVault, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await store.append(case, [reported(student_ref=f"k-{case.case_id[:8]}")], CaseVersion.new())
    other = KeyVault(vault._pool, bytes(reversed(range(32))))

    with pytest.raises(EventLogError, match="configure the master key"):
        await other.keys_for_reading([subject_id("student", case.case_id, f"k-{case.case_id[:8]}")])


async def test_a_cached_case_reads_erased_right_after_shredding(
    store: EventStore, vault: KeyVault, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    ref = f"c-{case.case_id[:8]}"
    await store.append(case, [reported(student_ref=ref)], CaseVersion.new())
    before = (await store.load(case)).events[0].data
    assert isinstance(before, CaseReported)
    assert before.students[0].name != ERASED

    await vault.shred(subject_id("student", case.case_id, ref))
    after = (await store.load(case)).events[0].data  # served from the cache

    assert isinstance(after, CaseReported)
    assert after.students[0].name == ERASED


async def test_the_same_reference_in_two_cases_has_two_keys(
    store: EventStore, vault: KeyVault, new_case: Callable[[], CaseRef]
) -> None:
    first, second = new_case(), new_case()
    await store.append(first, [reported(student_ref="s1")], CaseVersion.new())
    await store.append(second, [reported(student_ref="s1")], CaseVersion.new())

    await vault.shred(subject_id("student", first.case_id, "s1"))

    erased = (await store.load(first)).events[0].data
    kept = (await store.load(second)).events[0].data
    assert isinstance(erased, CaseReported)
    assert isinstance(kept, CaseReported)
    assert erased.students[0].name == ERASED
    assert kept.students[0].name != ERASED
