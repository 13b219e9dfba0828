"""The store's acknowledgements on its own inbox: each append gets its own, and a missing
stream or a silent server read as they did through nats-py's request."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from sexto_events.acks import Acks
from sexto_events.errors import LogUnavailable
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

from tests.support.events import note


async def test_concurrent_appends_each_get_their_own_acknowledgement(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    cases = [new_case() for _ in range(64)]
    results = await asyncio.gather(
        *(store.append(case, [note(f"n{i}")], CaseVersion.new()) for i, case in enumerate(cases))
    )

    js = nc.jetstream()
    for case, result in zip(cases, results, strict=True):
        stored = await js.get_msg("CASES", result.seqs[0])
        assert (stored.headers or {})["Nats-Msg-Id"] == result.event_ids[0]
        assert str(stored.subject).startswith(f"cases.{case.territory}.{case.case_id}.")
    assert len({r.seqs[0] for r in results}) == 64


async def test_an_append_no_stream_captures_is_unavailable_not_lost(
    nc: Client, store: EventStore
) -> None:
    token = uuid.uuid4().hex[:8]
    spec = StreamSpec(name=f"NONE_{token}", subject_root=f"none{token}")
    nowhere = EventStore(nc, source="sexto/tests", codec=store.codec, spec=spec)
    case = CaseRef("t1", uuid.uuid4().hex)

    with pytest.raises(LogUnavailable, match="after 3 tries"):
        await nowhere.append(case, [note("to nowhere")], CaseVersion.new())
    acks = Acks(nc)
    with pytest.raises(NoRespondersError):
        await acks.request(f"none{token}.x", b"{}", {}, 5.0)
    await acks.close()
    await nowhere.close()


async def test_requests_at_once_get_their_own_replies_on_one_inbox_subscription_dropped_on_close(
    nc: Client,
) -> None:
    token = uuid.uuid4().hex[:8]
    js = nc.jetstream()
    await js.add_stream(name=f"SIDE_{token}", subjects=[f"side{token}.>"])  # not CASES
    acks = Acks(nc)
    try:
        replies = await asyncio.gather(
            *(acks.request(f"side{token}.{i}", b"{}", {}, 5.0) for i in range(8))
        )
        assert sorted(json.loads(r.data)["seq"] for r in replies) == list(range(1, 9))
        inbox = acks._prefix
        subs = [s.subject for s in nc._subs.values() if s.subject.startswith(inbox)]
        assert subs == [f"{inbox}.*"]
        await acks.close()
        assert not [s for s in nc._subs.values() if s.subject.startswith(inbox)]
        with pytest.raises(ConnectionClosedError):  # closed: never subscribed again
            await acks.request(f"side{token}.9", b"{}", {}, 5.0)
        assert not [s for s in nc._subs.values() if s.subject.startswith(acks._prefix)]
    finally:
        await js.delete_stream(f"SIDE_{token}")


async def test_an_append_never_acknowledged_times_out_as_unavailable(
    nc: Client, store: EventStore
) -> None:
    token = uuid.uuid4().hex[:8]
    received: list[Msg] = []

    async def swallow(msg: Msg) -> None:  # a responder that never answers
        received.append(msg)

    sub = await nc.subscribe(f"silent{token}.>", cb=swallow)
    spec = StreamSpec(name=f"SILENT_{token}", subject_root=f"silent{token}")
    silent = EventStore(nc, source="sexto/tests", codec=store.codec, timeout=0.2, spec=spec)
    case = CaseRef("t1", uuid.uuid4().hex)
    acks = Acks(nc)
    try:
        with pytest.raises(LogUnavailable, match="after 3 tries"):
            await silent.append(case, [note("unheard")], CaseVersion.new())
        assert len(received) == 3  # three tries, each with the same event id
        assert len({(m.headers or {})["Nats-Msg-Id"] for m in received}) == 1
        with pytest.raises(NatsTimeout):
            await acks.request(f"silent{token}.x", b"{}", {}, 0.1)
        assert acks._waiting == {}  # nothing left waiting after a timeout
    finally:
        await sub.unsubscribe()
        await silent.close()
        await acks.close()
