"""Delivery facts read from a JetStream reply subject, as nats-py reads them (real server)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.pull import Delivery, PullFeed, delivery_of
from sexto_events.store import EventStore

from tests.support.events import note, reported


def _as_nats_reads_it(msg: Msg) -> Delivery:
    meta = Msg.Metadata._from_reply(msg.reply)
    return Delivery(meta.sequence.stream, meta.sequence.consumer, meta.num_delivered)


async def test_delivery_matches_nats_metadata_first_and_redelivered(
    nc: Client, store: EventStore, new_case: Callable[[], CaseRef]
) -> None:
    case = new_case()
    first = await store.append(case, [reported()], CaseVersion.new())
    await store.append(case, [note("n1")], first.version)
    durable = f"pull-{uuid.uuid4().hex[:8]}"
    await nc.jetstream().add_consumer(
        "CASES",
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            filter_subject=f"cases.{case.territory}.{case.case_id}.>",
        ),
    )
    feed = PullFeed(nc, "CASES", durable)
    try:
        msgs = await feed.fetch(10, 2.0)
        assert [delivery_of(m) for m in msgs] == [_as_nats_reads_it(m) for m in msgs]
        assert [delivery_of(m).deliveries for m in msgs] == [1, 1]
        assert [delivery_of(m).consumer_seq for m in msgs] == [1, 2]
        assert delivery_of(msgs[0]).stream_seq == first.seqs[0]
        await msgs[0].nak()
        await msgs[1].ack()
        (again,) = await feed.fetch(10, 2.0)
        assert delivery_of(again) == _as_nats_reads_it(again)
        assert delivery_of(again) == Delivery(first.seqs[0], 3, 2)
    finally:
        await feed.close()
        await nc.request(f"$JS.API.CONSUMER.DELETE.CASES.{durable}", b"", 5)


def test_delivery_of_the_v2_reply_form_and_of_a_plain_message() -> None:
    # With a JetStream domain and account hash (v2), as a leaf node or newer server sends.
    reply = "$JS.ACK.hub.ACCHASH.CASES.evaluation-grids.3.1207.88.1733600000000000000.5.tok"
    msg = Msg(None, subject="cases.spvm.c1.intake.case_reported", reply=reply)  # type: ignore[arg-type]
    assert delivery_of(msg) == Delivery(1207, 88, 3) == _as_nats_reads_it(msg)
    with pytest.raises(ValueError, match="not a JetStream delivery"):
        delivery_of(Msg(None, subject="x", reply="_INBOX.abc"))  # type: ignore[arg-type]
