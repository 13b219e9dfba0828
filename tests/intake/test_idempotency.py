"""The one Idempotency-Key mechanism on intake's writes."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sexto_events.db import create_pool
from sexto_events.refusals import IdempotencyKeyReused, RequestInProgress
from sexto_service.idempotency import Answer, Claim, IdempotencyRecords

from tests.intake.conftest import World
from tests.intake.test_facts import log_types, open_case, post

FRENCH = {"Accept-Language": "fr-CA"}


def records(world: World) -> IdempotencyRecords:
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    return IdempotencyRecords(runtime.pool, runtime.name)


def test_a_fact_replayed_with_its_key_answers_the_same_and_records_nothing(world: World) -> None:
    case_id, _ = open_case(world)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = post(world, case_id, "notes", {"text": "called the parents"}, **key)
    before = log_types(world, case_id)

    again = post(world, case_id, "notes", {"text": "called the parents"}, **key)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert log_types(world, case_id) == before


def test_the_same_key_with_another_body_is_a_422_that_records_nothing(world: World) -> None:
    case_id, _ = open_case(world)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    assert post(world, case_id, "notes", {"text": "called the parents"}, **key).status_code == 201
    before = log_types(world, case_id)

    other = post(world, case_id, "notes", {"text": "met the parents"}, **key)
    elsewhere = post(world, case_id, "actions-not-taken",
                     {"action": "x", "justification": "y"}, **key)  # fmt: skip
    french = post(world, case_id, "notes", {"text": "met the parents"}, **key, **FRENCH)

    for answer in (other, elsewhere, french):
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/idempotency-key-reused")
    assert "Idempotency-Key" in other.json()["detail"]
    assert french.json()["detail"].startswith("cette Idempotency-Key a déjà servi")
    assert log_types(world, case_id) == before


def test_two_concurrent_requests_with_one_key_record_once(world: World) -> None:
    case_id, _ = open_case(world)
    key = {"Idempotency-Key": uuid.uuid4().hex}

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(
            lambda _: post(world, case_id, "notes", {"text": "both at once"}, **key), range(4)
        ))  # fmt: skip

    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert log_types(world, case_id).count("note_added") == 1


def test_a_key_that_is_not_a_key_is_a_422_naming_the_header(world: World) -> None:
    case_id, _ = open_case(world)

    answer = post(world, case_id, "notes", {"text": "x"}, **{"Idempotency-Key": "short"})

    assert answer.status_code == 422
    assert [e["location"] for e in answer.json()["errors"]] == ["header.idempotency-key"]


async def _claims(store: IdempotencyRecords) -> None:
    key = uuid.uuid4().hex
    first = await store.claim("caller-1", key, "digest-a")
    assert isinstance(first, Claim)
    waiting = asyncio.create_task(store.claim("caller-1", key, "digest-a"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # the retry waits for the first answer
    answer = Answer(201, {"content-type": "application/json"}, b'{"id": "x"}')
    await store.answer("caller-1", key, first, answer)
    assert await waiting == answer
    with pytest.raises(IdempotencyKeyReused):
        await store.claim("caller-1", key, "digest-b")
    assert isinstance(await store.claim("caller-2", key, "digest-b"), Claim)  # per caller
    # Too long a wait is a 409 to retry later; a released claim runs again.
    other = uuid.uuid4().hex
    running = await store.claim("caller-1", other, "digest-a")
    assert isinstance(running, Claim)
    with pytest.raises(RequestInProgress):
        await store.claim("caller-1", other, "digest-a", wait_s=0.1)
    await store.release("caller-1", other, running)
    assert isinstance(await store.claim("caller-1", other, "digest-a"), Claim)


def test_one_claim_wins_the_other_waits_for_its_answer(world: World) -> None:
    world.client.portal.call(_claims, records(world))  # type: ignore[union-attr]


async def _no_flush_stays_in_its_statement(store: IdempotencyRecords, dsn: str) -> None:
    # Claims commit without waiting for the disk; pooled connections are not reset, so the
    # setting must end with the claim's own transaction.
    single = IdempotencyRecords(await create_pool(dsn, max_size=1), store.table.split(".")[0])
    try:
        async with single.pool.acquire() as conn:
            # The tests' server runs with no flush at all: give this session a value of its
            # own (this private pool dies with the test) to see that it is left alone.
            await conn.execute("SET synchronous_commit = remote_write")
        key = uuid.uuid4().hex
        claim = await single.claim("caller-1", key, "digest-a")
        assert isinstance(claim, Claim)
        async with single.pool.acquire() as conn:
            assert await conn.fetchval("SHOW synchronous_commit") == "remote_write"
        await single.answer("caller-1", key, claim, Answer(201, {}, b"{}"))
        async with single.pool.acquire() as conn:
            assert await conn.fetchval("SHOW synchronous_commit") == "remote_write"
        # ... and what they wrote is visible at once to another connection.
        assert await store.claim("caller-1", key, "digest-a") == Answer(201, {}, b"{}")
    finally:
        await single.pool.close()


def test_a_claim_relaxes_only_its_own_commit(world: World) -> None:
    dsn = world.client.app.state.runtime.settings.database_url  # type: ignore[attr-defined]
    world.client.portal.call(_no_flush_stays_in_its_statement, records(world), dsn)  # type: ignore[union-attr]
