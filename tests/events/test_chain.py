"""The per-case hash chain: pure verification, and tampered logs read back from NATS."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from sexto_events.chain import (
    _plain,
    body_matches_hash,
    canonical_body,
    canonical_json,
    compute_hash,
    misplaced,
    seal_body,
    verify_chain,
)
from sexto_events.errors import ChainBroken
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from tests.support.events import note, reported
from tests.support.raw import copy_case, publish_raw


def chain_of(n: int) -> list[dict[str, Any]]:
    events, prev = [], ""
    for i in range(n):
        env: dict[str, Any] = {
            "id": f"e{i}",
            "subject": "case-1",
            "data": {"i": i},
            "prevhash": prev,
        }
        env["hash"] = compute_hash(env)
        prev = env["hash"]
        events.append(env)
    return events


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(chain_of(5)).ok


def test_the_hash_is_sha256_of_canonical_json_without_the_hash() -> None:
    env = {"b": 1, "a": "é", "hash": "ignored"}
    # RFC 8785: sorted keys, no spaces, UTF-8
    assert compute_hash(env) == hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()


@given(position=st.integers(0, 4), new_value=st.integers(100, 10_000))
def test_any_altered_event_is_reported_at_its_position(position: int, new_value: int) -> None:
    events = chain_of(5)
    events[position]["data"]["i"] = new_value

    report = verify_chain(events)

    assert report.position == position
    assert report.event_id == f"e{position}"
    assert "altered" in (report.reason or "")


@given(position=st.integers(0, 3))
def test_a_removed_event_is_reported_where_the_gap_is(position: int) -> None:
    events = chain_of(5)
    del events[position]

    report = verify_chain(events)

    assert report.position == position
    assert "removed" in (report.reason or "") or "missing" in (report.reason or "")


def test_reordered_and_inserted_events_are_reported() -> None:
    events = chain_of(5)
    events[1], events[2] = events[2], events[1]
    assert verify_chain(events).position == 1

    other = chain_of(3)
    intruder = dict(other[1])
    events = chain_of(5)
    events.insert(2, intruder)
    assert verify_chain(events).position == 2


def test_an_event_of_another_case_breaks_the_chain() -> None:
    events = chain_of(3)
    events[2] = {**events[2], "subject": "case-2"}
    events[2]["hash"] = compute_hash(events[2])

    assert verify_chain(events).reason == "event belongs to another case"


# --- against the real server ----------------------------------------------------------


@pytest.fixture
async def original(
    side_store: EventStore, new_case: Callable[[], CaseRef]
) -> tuple[CaseRef, EventStore]:
    case = new_case()
    version = (await side_store.append(case, [reported()], CaseVersion.new())).version
    for i in range(4):
        version = (await side_store.append(case, [note(f"step {i}")], version)).version
    return case, side_store


async def tampered_load(
    nc: Client,
    original: tuple[CaseRef, EventStore],
    make_store: Callable[[], Any],
    edit: Callable[[list[Any]], list[Any]],
) -> ChainBroken:
    case, source = original
    bodies = await source.read_raw(case)
    target: EventStore = await make_store()
    await copy_case(nc, edit(list(bodies)), target, case)
    with pytest.raises(ChainBroken) as caught:
        await target.load(case)
    await target.close()
    return caught.value


@pytest.fixture
def make_store(nc: Client, side_store: EventStore) -> Callable[[], Any]:
    async def make() -> EventStore:
        token = uuid.uuid4().hex[:8]
        spec = replace(side_store.spec, name=f"TAMPERED_{token}", subject_root=f"tampered{token}")
        store = EventStore(nc, source="sexto/tests", codec=side_store.codec, spec=spec)
        await store.ensure_stream()
        return store

    return make


async def test_the_untouched_copy_verifies(
    nc: Client, original: tuple[CaseRef, EventStore], make_store: Callable[[], Any]
) -> None:
    case, source = original
    target: EventStore = await make_store()
    await copy_case(nc, await source.read_raw(case), target, case)

    assert len((await target.load(case)).events) == 5
    await target.close()


async def test_one_changed_byte_fails_verification_at_its_position(
    nc: Client, original: tuple[CaseRef, EventStore], make_store: Callable[[], Any]
) -> None:
    def flip_one_byte(bodies: list[Any]) -> list[Any]:
        body = bytearray(bodies[2].body)
        at = body.index(b'"actor":"') + len(b'"actor":"')
        body[at] ^= 0x01
        json.loads(bytes(body))  # still valid JSON: only the content changed
        bodies[2] = replace(bodies[2], body=bytes(body))
        return bodies

    broken = await tampered_load(nc, original, make_store, flip_one_byte)

    assert broken.position == 2
    assert "altered" in broken.reason


async def test_a_removed_event_fails_verification(
    nc: Client, original: tuple[CaseRef, EventStore], make_store: Callable[[], Any]
) -> None:
    broken = await tampered_load(nc, original, make_store, lambda b: b[:2] + b[3:])

    assert broken.position == 2
    assert "removed" in broken.reason


async def test_reordered_events_fail_verification(
    nc: Client, original: tuple[CaseRef, EventStore], make_store: Callable[[], Any]
) -> None:
    broken = await tampered_load(nc, original, make_store, lambda b: [b[0], b[2], b[1], *b[3:]])

    assert broken.position == 1


def json_values_keyed(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """JSON values without floats, safe integers only, objects keyed by `keys`."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53) + 1, 2**53 - 1)
        | st.text(alphabet=st.characters(codec="utf-8")),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=20,
    )


json_values = json_values_keyed(st.text(max_size=8))


@given(value=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_canonical_json_is_byte_for_byte_rfc8785(value: dict[str, Any]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_escapes_controls_like_rfc8785() -> None:
    value: dict[str, Any] = {
        "é": '\x00\x08\x0c\n\r\t\x1f\x7f\u2028"\\/',
        "k\U0001f600": 1,
        "\uffff": 2,
    }
    assert canonical_json(value) == rfc8785.dumps(value)


ascii_keys = st.text(alphabet=st.characters(codec="ascii"), max_size=8)


@given(value=st.dictionaries(ascii_keys, json_values_keyed(ascii_keys), max_size=6))
def test_the_fast_encoder_is_byte_for_byte_rfc8785(value: dict[str, Any]) -> None:
    assert _plain(value)
    assert canonical_json(value) == rfc8785.dumps(value)


def test_the_fast_encoder_escapes_every_control_like_rfc8785() -> None:
    value: dict[str, Any] = {
        "k": "".join(map(chr, range(0x20))) + '\x7f\u2028\u2029"\\/\u00e9\U0001f600',
        "n": [2**53 - 1, -(2**53 - 1), True, False, None],
    }
    assert _plain(value)
    assert canonical_json(value) == rfc8785.dumps(value)


def test_what_the_fast_encoder_refuses_the_reference_decides() -> None:
    deep: list[Any] = []
    for _ in range(300):  # deeper than orjson nests
        deep = [deep]
    assert canonical_json({"k": deep}) == rfc8785.dumps({"k": deep})
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"k": "\ud800"})  # a lone surrogate


def test_a_stored_body_is_canonical_and_verifies_by_the_fast_path() -> None:
    env: dict[str, Any] = {"id": "e1", "subject": "c", "data": {"hash": "x", "b": [1]}}
    env["prevhash"] = ""
    env["hash"] = compute_hash(env)
    body = canonical_body(env)

    assert body == rfc8785.dumps(env)
    assert body_matches_hash(body, env["hash"])
    assert verify_chain([env], [body]).ok


def test_the_fast_path_never_accepts_a_changed_body() -> None:
    env: dict[str, Any] = {"id": "e1", "subject": "c", "data": {"n": 1}, "prevhash": ""}
    env["hash"] = compute_hash(env)
    body = canonical_body(env)
    changed = body.replace(b'"n":1', b'"n":2')
    spaced = body.replace(b'"n":1', b'"n": 1')  # same content, not canonical: slow path

    assert not body_matches_hash(changed, env["hash"])
    assert verify_chain([json.loads(changed)], [changed]).position == 0
    assert not body_matches_hash(spaced, env["hash"])
    assert verify_chain([json.loads(spaced)], [spaced]).ok


async def test_a_bad_event_after_a_cached_prefix_fails_verification(
    nc: Client, original: tuple[CaseRef, EventStore]
) -> None:
    case, source = original
    assert len((await source.load(case)).events) == 5  # now cached
    head = (await source.read_raw(case))[-1]
    forged = json.loads(head.body)
    forged["id"] = str(uuid.uuid4())  # a copy of the head, linked to the wrong predecessor
    await publish_raw(nc, source, case, "intake.note_added", json.dumps(forged).encode())

    with pytest.raises(ChainBroken) as caught:
        await source.load(case)

    assert caught.value.position == 5


async def test_a_fork_after_a_cached_prefix_fails_like_an_uncached_load(
    nc: Client, original: tuple[CaseRef, EventStore]
) -> None:
    case, source = original
    assert len((await source.load(case)).events) == 5  # cached
    head = json.loads((await source.read_raw(case))[-1].body)
    for suffix in ("x", "y"):  # two events naming the same predecessor
        fork = {k: v for k, v in head.items() if k != "hash"}
        fork |= {"id": str(uuid.uuid4()), "prevhash": head["hash"], "actor": f"fork-{suffix}"}
        fork["hash"] = compute_hash(fork)
        await publish_raw(nc, source, case, "intake.note_added", canonical_body(fork))

    with pytest.raises(ChainBroken) as caught:
        await source.load(case)

    assert caught.value.position == 6


@given(
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    source=st.text(max_size=40),
)
def test_sealing_a_body_equals_hashing_then_encoding_it_whole(
    data: dict[str, Any], source: str
) -> None:
    envelope: dict[str, Any] = {
        "specversion": "1.0", "id": "e1", "source": source, "type": "t", "subject": "c",
        "time": "2026-11-21T00:00:00.000000Z", "datacontenttype": "application/json",
        "data": {**data, "nested": {"datacontenttype": "application/json", "x": 1}},
        "territory": "t", "actor": "a", "actorrole": "r", "correlationid": "e1",
        "causationid": "e1", "prevhash": "",
    }  # fmt: skip

    digest, body = seal_body(envelope)

    assert digest == compute_hash(envelope)
    assert body == canonical_body({**envelope, "hash": digest})


def test_an_event_must_be_stored_under_its_own_case_context_and_event() -> None:
    envelope = {"territory": "spvm", "subject": "c1", "type": "org.sexto.escalation.requested.v2"}
    assert misplaced("cases.spvm.c1.escalation.requested", envelope) is None
    assert misplaced("cases.spvm.c2.escalation.requested", envelope) == (
        "stored under another case's subject"
    )
    assert misplaced("cases.spvm.c1.notification.requested", envelope) == (
        "stored under another event type's subject"
    )
    assert misplaced("cases.spvm.c1.escalation.acknowledged", envelope) == (
        "stored under another event type's subject"
    )
    assert (
        misplaced("cases.spvm.c1", envelope)
        == "stored under a subject that names no case and event"
    )
