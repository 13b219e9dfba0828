"""The unwrapped-key cache: bounded, short-lived, and stale in every process once a shred
commits (the shred epoch), proven across separate connections and a separate process."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.catalogue.base import ERASED
from sexto_events.catalogue.intake import CaseReported, StudentAdded, StudentInvolved, StudentRole
from sexto_events.connection import connect
from sexto_events.db import create_pool
from sexto_events.epoch_lease import DEFAULT_LEASE_S
from sexto_events.errors import SubjectErased
from sexto_events.key_cache import KeyCache
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.personal import KeyVault, PersonalDataCodec, subject_id
from sexto_events.store import EventStore
from sexto_events.tables import KEY_SCHEMA

from tests.conftest import LEASE_S, MASTER_KEY
from tests.support.events import INVENTED_NAME, note, reported

# --- the cache alone -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_served_at_the_epoch_it_was_read_at_only() -> None:
    cache = KeyCache(10, 60.0, Clock())
    cache.put({"student:c:s1": b"k1"}, epoch=3)

    assert cache.get(["student:c:s1"], epoch=3) == {"student:c:s1": b"k1"}
    assert cache.get(["student:c:s1"], epoch=4) == {}
    assert len(cache) == 0  # a newer epoch drops everything read before it


def test_keys_read_before_a_newer_epoch_was_seen_are_not_kept() -> None:
    cache = KeyCache(10, 60.0, Clock())
    cache.get([], epoch=5)
    cache.put({"student:c:s1": b"k1"}, epoch=4)  # a slow reader's keys, older than a shred

    assert len(cache) == 0


def test_a_key_expires_after_its_time_to_live() -> None:
    clock = Clock()
    cache = KeyCache(10, 60.0, clock)
    cache.put({"student:c:s1": b"k1"}, epoch=0)
    clock.now = 59.9
    assert cache.get(["student:c:s1"], epoch=0) == {"student:c:s1": b"k1"}
    clock.now = 60.0
    assert cache.get(["student:c:s1"], epoch=0) == {}


def test_the_cache_is_bounded_least_recently_used_first_out() -> None:
    cache = KeyCache(2, 60.0, Clock())
    cache.put({"a": b"1", "b": b"2"}, epoch=0)
    cache.get(["a"], epoch=0)
    cache.put({"c": b"3"}, epoch=0)

    assert len(cache) == 2
    assert cache.get(["a", "b", "c"], epoch=0) == {"a": b"1", "c": b"3"}


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = KeyCache(0, 60.0, Clock())
    cache.put({"a": b"1"}, epoch=0)
    assert len(cache) == 0


# --- two vaults on separate connections, and two processes ---------------------------


@pytest.fixture
async def other_pool(postgres: EmbeddedPostgres, vault: KeyVault) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(postgres.dsn)
    yield created
    await created.close()


@pytest.fixture
async def other_store(
    nats_server: NatsServer, other_pool: asyncpg.Pool
) -> AsyncIterator[EventStore]:
    """Another process's store: its own NATS connection, pool, vault and key cache."""
    nc: Client = await connect(nats_server.url, name="sexto-tests-other")
    store = EventStore(
        nc,
        source="sexto/tests",
        codec=PersonalDataCodec(KeyVault(other_pool, MASTER_KEY, lease_seconds=LEASE_S)),
    )
    yield store
    await store.close()
    await nc.close()


def vault_of(store: EventStore) -> KeyVault:
    assert store.codec is not None
    return store.codec.vault


async def first_name(store: EventStore, case: CaseRef) -> object:
    data = (await store.load(case)).events[0].data
    assert isinstance(data, CaseReported)
    return data.students[0].name


async def test_a_cached_key_is_served_without_reading_the_key_table(
    store: EventStore, other_store: EventStore, other_pool: asyncpg.Pool,
    new_case: Callable[[], CaseRef],
) -> None:  # fmt: skip
    case = new_case()
    ref = f"k-{case.case_id[:8]}"
    await store.append(
        case, [reported(name="Quillon Ashgrove", student_ref=ref)], CaseVersion.new()
    )
    subject = subject_id("student", case.case_id, ref)
    assert await first_name(other_store, case) == "Quillon Ashgrove"

    # Deleted behind the vault's back (no shred, no epoch bump): only the cache still has it.
    await other_pool.execute(f"DELETE FROM {KEY_SCHEMA}.subject_keys WHERE subject = $1", subject)

    assert await first_name(other_store, case) == "Quillon Ashgrove"
    assert await KeyVault(other_pool, MASTER_KEY).keys_for_reading([subject]) == {}


async def test_a_shredded_key_is_unusable_at_once_in_another_vaults_warm_cache(
    store: EventStore, other_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    ref = f"s-{case.case_id[:8]}"
    subject = subject_id("student", case.case_id, ref)
    await store.append(case, [reported(name="Ysmay Corriveau", student_ref=ref)], CaseVersion.new())
    # Both caches warm, for reading and for writing.
    assert await first_name(store, case) == "Ysmay Corriveau"
    assert await first_name(other_store, case) == "Ysmay Corriveau"
    assert subject in (await vault_of(other_store).keys_for_writing([subject]))[0]
    assert vault_of(other_store).cache.holds(subject)

    assert await vault_of(store).shred(subject)

    # The other vault's very next use, with no message to wait for.
    assert await first_name(other_store, case) == ERASED
    assert await vault_of(other_store).keys_for_reading([subject]) == {}
    with pytest.raises(SubjectErased):
        await vault_of(other_store).keys_for_writing([subject])
    assert await first_name(store, case) == ERASED


async def test_keys_of_other_subjects_stay_usable_after_a_shred_elsewhere(
    store: EventStore, other_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    kept, erased = new_case(), new_case()
    await store.append(
        kept, [reported(name="Brisa Montclair", student_ref="s1")], CaseVersion.new()
    )
    await store.append(erased, [reported(student_ref="s1")], CaseVersion.new())
    assert await first_name(other_store, kept) == "Brisa Montclair"

    await vault_of(store).shred(subject_id("student", erased.case_id, "s1"))

    assert await first_name(other_store, kept) == "Brisa Montclair"  # read again, still there


async def test_a_command_of_several_sealed_events_looks_its_keys_up_once(
    store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    subject = subject_id("case", case.case_id)
    vault = vault_of(store)
    vault.cache.drop(subject)
    calls: list[list[str]] = []
    original = vault.keys_for_writing

    async def counted(subjects: object) -> tuple[dict[str, bytes], int | None]:
        wanted = sorted(subjects)  # type: ignore[call-overload]
        calls.append(wanted)
        return await original(wanted)

    vault.keys_for_writing = counted  # type: ignore[method-assign]
    try:
        await store.append(case, [note("first"), note("second"), note("third")], version)
    finally:
        del vault.keys_for_writing
    assert calls == [[subject]]
    texts = [e.data.text for e in (await store.load(case)).events[1:]]  # type: ignore[attr-defined]
    assert texts == ["first", "second", "third"]


async def test_a_shredded_key_is_unusable_at_once_in_another_process(
    store: EventStore, vault: KeyVault, nats_server: NatsServer, postgres: EmbeddedPostgres,
    new_case: Callable[[], CaseRef],
) -> None:  # fmt: skip
    case = new_case()
    ref = f"p-{case.case_id[:8]}"
    await store.append(case, [reported(name="Odalric Fenwood", student_ref=ref)], CaseVersion.new())
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.key_reader_proc", nats_server.url, postgres.dsn,
        case.territory, case.case_id, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert reader.stdin is not None
    assert reader.stdout is not None
    stdin, stdout = reader.stdin, reader.stdout

    async def answer() -> str:
        return (await asyncio.wait_for(stdout.readline(), 30)).decode().strip()

    async def ask() -> str:
        stdin.write(b"\n")
        await stdin.drain()
        return await answer()

    try:
        assert await answer() == "Odalric Fenwood"
        assert await ask() == "Odalric Fenwood"  # its cache is warm

        assert await vault.shred(subject_id("student", case.case_id, ref))

        assert await ask() == "<erased>"
    finally:
        stdin.close()
        await asyncio.wait_for(reader.wait(), 30)


# --- opened personal data in the case cache ------------------------------------------


async def test_a_cached_case_opens_its_personal_data_once_per_shred_epoch(
    store: EventStore, other_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case, elsewhere = new_case(), new_case()
    version = (
        await store.append(case, [reported(name="Leocadia Thorne")], CaseVersion.new())
    ).version
    await store.append(case, [note("first")], version)
    await store.append(elsewhere, [reported(student_ref="s9")], CaseVersion.new())
    codec = other_store.codec
    assert codec is not None
    opened: list[int] = []
    original = codec.open_many

    async def counted(items: list[Any]) -> list[dict[str, Any]]:
        opened.append(len(items))
        return await original(items)

    codec.open_many = counted  # type: ignore[method-assign,assignment]
    try:
        # The first load decodes the case; the first cached load opens it at the epoch.
        for _ in range(4):
            assert await first_name(other_store, case) == "Leocadia Thorne"
        assert opened == [2, 2]  # the later loads opened nothing again

        await vault_of(store).shred(subject_id("student", elsewhere.case_id, "s9"))

        assert await first_name(other_store, case) == "Leocadia Thorne"
        assert opened == [2, 2, 2]  # a shred anywhere: opened afresh
    finally:
        del codec.open_many


async def test_a_case_cached_opened_elsewhere_reads_erased_on_its_next_load(
    store: EventStore, other_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    ref = f"o-{case.case_id[:8]}"
    version = (
        await store.append(case, [reported(name="Wendeline Aspry", student_ref=ref)],
                           CaseVersion.new())
    ).version  # fmt: skip
    assert await first_name(other_store, case) == "Wendeline Aspry"
    loaded = await other_store.load(case)
    # The other process writes on top of the case it holds opened.
    await other_store.append(case, [note("second")], loaded.version)
    assert version.seq < (await other_store.load(case)).version.seq

    await vault_of(store).shred(subject_id("student", case.case_id, ref))

    assert await first_name(other_store, case) == ERASED


async def test_a_write_sealed_before_a_shred_does_not_put_plaintext_in_a_case_opened_after(
    store: EventStore, other_store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    ref = f"w-{case.case_id[:8]}"
    subject = subject_id("student", case.case_id, ref)
    version = (await store.append(case, [reported()], CaseVersion.new())).version
    await vault_of(store).keys_for_writing([subject])  # the key exists and is cached
    await store.load(case)  # the case is cached, so the next load opens it at its epoch
    vault = vault_of(store)
    original = vault.keys_for_writing
    names: list[object] = []

    async def shred_after_the_check(subjects: object) -> tuple[dict[str, bytes], int | None]:
        checked = await original(subjects)  # type: ignore[arg-type]
        # Between the writer's key check and its append: the student is erased elsewhere
        # and another request of this process opens the case at the new epoch.
        assert await vault_of(other_store).shred(subject)
        names.append((await store.load(case)).events[0].data.students[0].name)  # type: ignore[attr-defined]
        return checked

    student = StudentInvolved(
        student_ref=ref, roles=[StudentRole.DEPICTED], age=14, name="Ottoline Brackwater"
    )
    added = NewEvent(StudentAdded(student=student), actor="i-7", actor_role="intervener")
    vault.keys_for_writing = shred_after_the_check  # type: ignore[method-assign]
    try:
        await store.append(case, [added], version)
    finally:
        del vault.keys_for_writing
    assert names == [INVENTED_NAME]  # the load in between opened the case (another subject)

    for _ in range(2):
        written = (await store.load(case)).events[-1].data
        assert isinstance(written, StudentAdded)
        assert written.student.name == ERASED


# --- the shred-epoch lease -----------------------------------------------------------


@pytest.mark.parametrize("how", ["shred", "shred_all"])
async def test_with_the_default_lease_a_shred_returns_once_no_other_vault_can_use_the_key(
    nc: Client, pool: asyncpg.Pool, other_pool: asyncpg.Pool, new_case: Callable[[], CaseRef],
    how: str, longer_leases_forgotten: None,
) -> None:  # fmt: skip
    shredder = KeyVault(pool, MASTER_KEY)
    reading = KeyVault(other_pool, MASTER_KEY)
    assert shredder.lease.seconds == reading.lease.seconds == DEFAULT_LEASE_S
    writer = EventStore(nc, source="sexto/tests", codec=PersonalDataCodec(shredder))
    reader = EventStore(nc, source="sexto/tests", codec=PersonalDataCodec(reading))
    case = new_case()
    ref = f"d-{case.case_id[:8]}"
    subject = subject_id("student", case.case_id, ref)
    try:
        await writer.ensure_stream()
        await writer.append(
            case, [reported(name="Maelis Trevanion", student_ref=ref)], CaseVersion.new()
        )
        assert await first_name(reader, case) == "Maelis Trevanion"
        reads, leased_at = reading.lease.reads, reading.lease.clock()
        # Warm and leased: the opened case and the key are used again without an epoch read
        # (unless a very busy machine took the whole second since the read).
        assert await first_name(reader, case) == "Maelis Trevanion"
        assert subject in (await reading.keys_for_writing([subject]))[0]
        if reading.lease.clock() - leased_at < DEFAULT_LEASE_S / 2:
            assert reading.lease.reads == reads
        reads = reading.lease.reads

        if how == "shred":
            assert await shredder.shred(subject)
        else:  # several keys, one wait after the last commit
            second = subject_id("case", case.case_id)
            assert await shredder.shred_all([subject, second]) == [True, True]

        # The lease the reader held a moment ago has run out by now: it reads the epoch.
        assert await first_name(reader, case) == ERASED
        assert reading.lease.reads == reads + 1
        assert await reading.keys_for_reading([subject]) == {}
        with pytest.raises(SubjectErased):
            await reading.keys_for_writing([subject])
    finally:
        await writer.close()
        await reader.close()


@pytest.fixture
async def counted_pool(
    postgres: EmbeddedPostgres, vault: KeyVault
) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A pool that notes every statement its connections send."""
    statements: list[str] = []

    async def log_queries(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda logged: statements.append(logged.query))

    created = await asyncpg.create_pool(postgres.dsn, min_size=1, max_size=4, init=log_queries)
    assert created is not None
    yield created, statements
    await created.close()


async def sealed_commands(store: EventStore, case: CaseRef, count: int) -> None:
    """The command loop of `make bench`: load the case, append one sealed note."""
    for i in range(count):
        loaded = await store.load(case)
        await store.append(case, [note(f"note {i}")], loaded.version)


@pytest.mark.parametrize("lease_s", [60.0, 0.0])
async def test_a_warm_sealed_command_loop_asks_postgresql_nothing_within_the_lease(
    nc: Client, counted_pool: tuple[asyncpg.Pool, list[str]], new_case: Callable[[], CaseRef],
    lease_s: float,
) -> None:  # fmt: skip
    pool, statements = counted_pool
    store = EventStore(
        nc,
        source="sexto/tests",
        codec=PersonalDataCodec(KeyVault(pool, MASTER_KEY, lease_seconds=lease_s)),
    )
    case = new_case()
    try:
        await store.ensure_stream()
        await store.append(case, [reported(name="Isaura Penhallow")], CaseVersion.new())
        await sealed_commands(store, case, 2)  # keys created and cached, case cached
        statements.clear()

        await sealed_commands(store, case, 10)

        epoch_reads = sum("shred_epoch" in statement for statement in statements)
        if lease_s:
            assert statements == []
        else:  # without a lease, what every command cost before
            assert epoch_reads >= 10
        texts = [e.data.text for e in (await store.load(case)).events[-10:]]  # type: ignore[attr-defined]
        assert texts == [f"note {i}" for i in range(10)]
        assert await first_name(store, case) == "Isaura Penhallow"
    finally:
        await store.close()


async def test_a_lease_is_trusted_until_it_runs_out_then_the_epoch_is_read_again(
    pool: asyncpg.Pool, other_pool: asyncpg.Pool
) -> None:
    leased = KeyVault(other_pool, MASTER_KEY, lease_seconds=LEASE_S)
    clock = Clock()
    leased.lease.clock = clock
    before = await leased.shred_epoch()
    assert leased.lease.reads == 1

    # Bumped behind its back (a real shred would now wait for the lease to run out).
    await pool.execute(f"UPDATE {KEY_SCHEMA}.shred_epoch SET epoch = epoch + 1")
    clock.now += LEASE_S * 0.99
    assert await leased.shred_epoch() == before
    assert leased.lease.reads == 1

    clock.now += LEASE_S * 0.01
    assert await leased.shred_epoch() > before
    assert leased.lease.reads == 2


async def test_shred_all_erases_every_key_and_says_which_existed(
    store: EventStore, vault: KeyVault, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    await store.append(case, [reported(student_ref="s1")], CaseVersion.new())
    present = subject_id("student", case.case_id, "s1")
    absent = subject_id("student", case.case_id, "nobody")

    assert await vault.shred_all([present, absent]) == [True, False]
    assert await vault.keys_for_reading([present]) == {}
    assert await first_name(store, case) == ERASED


async def test_a_shred_waits_the_longest_lease_any_vault_took_not_only_its_own(
    pool: asyncpg.Pool, other_pool: asyncpg.Pool, longer_leases_forgotten: None
) -> None:
    # Another process started with a longer lease than the shredder's (a mismatched
    # SEXTO_KEY_LEASE_S): its lease is recorded before it trusts any epoch ...
    longer = KeyVault(other_pool, MASTER_KEY, lease_seconds=0.6)
    subject = f"student:{uuid.uuid4().hex}:s1"
    created, _ = await longer.keys_for_writing([subject])
    assert subject in created
    assert await pool.fetchval("SELECT longest_lease_s FROM sexto_keys.shred_epoch") >= 0.6
    shredder = KeyVault(pool, MASTER_KEY, lease_seconds=LEASE_S)
    started = shredder.lease.clock()
    assert await shredder.shred(subject)
    # ... so the shred returned only once the longer lease had run out.
    assert shredder.lease.clock() - started >= 0.6
    assert await longer.keys_for_reading([subject]) == {}
