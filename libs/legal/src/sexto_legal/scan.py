"""Reading the whole log (or a filtered part of it) in order, fast: for replay and audits.

An ephemeral pull consumer without acknowledgements, read in large batches by the
`PullFeed` (one await per batch). nats-py's ConsumerConfig has no `filter_subjects`, so the
consumer is created with a hand-made request; the server removes it if we vanish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from sexto_events.envelope import format_time
from sexto_events.errors import EventLogError
from sexto_events.pull import PullFeed, delivery_of
from sexto_events.stream import NANOS, StreamSpec


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a scan starts: a stream sequence, or a time (the server's receive time)."""

    seq: int | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class StreamState:
    """How many messages the stream holds, and its first and last sequences."""

    messages: int
    first_seq: int
    last_seq: int


async def stream_state(nc: Client, spec: StreamSpec) -> StreamState:
    """The stream's size (for progress bars and to know when a scan is done)."""
    reply = await nc.request(f"$JS.API.STREAM.INFO.{spec.name}", b"", 5)
    info = json.loads(reply.data)
    if "error" in info:
        raise EventLogError(f"stream {spec.name}: {info['error'].get('description')}")
    state = info["state"]
    return StreamState(int(state["messages"]), int(state["first_seq"]), int(state["last_seq"]))


def message_seq(msg: Msg) -> int:
    """The stream sequence of a delivered message, read from its reply subject."""
    return delivery_of(msg).stream_seq


def check_contiguous(msgs: Sequence[Msg], received: int) -> int:
    """The count delivered after these messages; raises when any delivery before or among
    them is missing (each message's consumer sequence must follow the previous one's)."""
    for msg in msgs:
        delivered = delivery_of(msg).consumer_seq
        if delivered != received + 1:
            raise EventLogError(
                f"the log reader skipped deliveries {received + 1}-{delivered - 1} (lost in "
                "transit): the read is incomplete; run it again"
            )
        received = delivered
    return received


async def scan(
    nc: Client,
    spec: StreamSpec,
    *,
    filters: Sequence[str] = (),
    start: StreamPosition | None = None,
    batch: int = 4096,
    stall_s: float = 30.0,
) -> AsyncIterator[list[Msg]]:
    """Batches of messages in stream order, from `start`, until the stream's end when the
    scan began; raises EventLogError rather than end early (nothing for `stall_s` while
    the server says more is pending, a reader removed, deliveries lost)."""
    state = await stream_state(nc, spec)
    if state.messages == 0:
        return
    name = f"scan-{uuid.uuid4().hex[:12]}"
    config: dict[str, object] = {
        "name": name,
        "ack_policy": "none",
        "deliver_policy": "all",
        "replay_policy": "instant",
        "mem_storage": True,
        "num_replicas": 1,
        "inactive_threshold": 60 * NANOS,
        "max_waiting": 16,
    }
    if start is not None and start.seq is not None:
        config |= {"deliver_policy": "by_start_sequence", "opt_start_seq": start.seq}
    elif start is not None and start.time is not None:
        config |= {"deliver_policy": "by_start_time", "opt_start_time": format_time(start.time)}
    if len(filters) == 1:
        config["filter_subject"] = filters[0]
    elif filters:
        config["filter_subjects"] = list(filters)
    request = json.dumps({"stream_name": spec.name, "config": config}).encode()
    created = json.loads(
        (await nc.request(f"$JS.API.CONSUMER.CREATE.{spec.name}.{name}", request, 5)).data
    )
    if "error" in created:
        raise EventLogError(f"could not read the log: {created['error'].get('description')}")
    feed = PullFeed(nc, spec.name, name)
    received = 0
    loop = asyncio.get_running_loop()
    progressed = loop.time()
    try:
        while True:
            msgs = await feed.fetch(batch, 0.2)
            if msgs:
                received = check_contiguous(msgs, received)
                progressed = loop.time()
                yield msgs
                if message_seq(msgs[-1]) >= state.last_seq:
                    return
                continue
            # An empty fetch is not the end of the log: a pull that timed out on a loaded
            # machine, or a consumer the server removed, look the same. Ask the server.
            if await _finished(nc, spec, name, received, state, bool(filters)):
                return
            if loop.time() - progressed > stall_s:
                raise EventLogError(
                    f"the log delivered nothing for {stall_s:.0f} s while the server says more "
                    f"is pending: the read is incomplete ({received} events read); run it again"
                )
    finally:
        await feed.close()
        with contextlib.suppress(Exception):
            await nc.request(f"$JS.API.CONSUMER.DELETE.{spec.name}.{name}", b"", 5)


async def _finished(
    nc: Client, spec: StreamSpec, name: str, received: int, state: StreamState, filtered: bool
) -> bool:
    """True when the server confirms the scan saw everything there was when it began.

    Raises when that can no longer be true: the consumer is gone, or it delivered messages
    that never arrived (a consumer without acknowledgements does not deliver them again).
    """
    info = json.loads((await nc.request(f"$JS.API.CONSUMER.INFO.{spec.name}.{name}", b"", 5)).data)
    if "error" in info:
        raise EventLogError(
            f"the server removed the log reader ({info['error'].get('description')}) after "
            f"{received} events: the read is incomplete; run it again"
        )
    delivered = info.get("delivered", {})
    if int(delivered.get("consumer_seq", 0)) > received:
        # Delivered, not (yet) here: late replies are kept by the feed for the next fetch;
        # the caller's deadline turns a real loss into an error.
        return False
    if int(info.get("num_pending", 0)) > 0:
        return False
    return filtered or int(delivered.get("stream_seq", 0)) >= state.last_seq
