"""Pulling batches from a durable consumer with one await per batch.

nats-py's `fetch` awaits each message of a batch with its own timeout (a task per
message), which costs about as much as decoding the event. Here replies are collected by
the inbox callback and the caller awaits once, until the batch is full or the server
says there is no more for now. A request with `no_wait` answers at once; when the
consumer has nothing, one long poll for a single message waits for the next event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import NamedTuple

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

STATUS = "Status"
HEARTBEAT = "100"


class Delivery(NamedTuple):
    """Where a delivered JetStream message sits: its stream sequence, the consumer's count of
    deliveries so far (1 for the first), and how many times this message was delivered (a
    tuple: read for every message of a replay, twice in a scan)."""

    stream_seq: int
    consumer_seq: int
    deliveries: int


def delivery_of(msg: Msg) -> Delivery:
    """The delivery facts of a JetStream message, read from its reply subject.

    nats-py's `metadata` reads the same subject into a datetime and two dataclasses: about a
    fifth of a replay's time per event, for three numbers.
    """
    # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (v1, 9 tokens),
    # or with domain and account hash after $JS.ACK (v2, 11 or more), as nats-py reads it.
    tokens = (msg.reply or "").split(".")
    if tokens[0] != "$JS" or tokens[1:2] != ["ACK"] or not (len(tokens) == 9 or len(tokens) >= 11):
        raise ValueError("not a JetStream delivery (its reply subject is not an ack subject)")
    at = 4 if len(tokens) == 9 else 6
    return Delivery(int(tokens[at + 1]), int(tokens[at + 2]), max(int(tokens[at]), 1))


class _Pull:
    def __init__(self, size: int) -> None:
        self.size = size
        self.msgs: list[Msg] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, msg: Msg) -> None:
        status = (msg.headers or {}).get(STATUS) if not msg.data else None
        if status == HEARTBEAT:
            return
        if status is None:
            self.msgs.append(msg)
            if len(self.msgs) < self.size:
                return
        if not self.done.done():
            self.done.set_result(None)


class PullFeed:
    """Batches from `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`; one fetch at a time.

    Deliveries keep their own subjects, so they cannot be told apart by reply token: one
    inbox serves the feed, and a delivery that arrives between two fetches (for example
    after a long poll was given up) is kept for the next one.
    """

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self._nc = nc
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._current: _Pull | None = None
        self._early: list[Msg] = []
        self._sub: Subscription | None = None

    async def _route(self, msg: Msg) -> None:
        if self._current is not None:
            self._current.add(msg)
        elif msg.data or not msg.headers:
            self._early.append(msg)

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        """Up to `batch` messages; waits up to `wait_s` for the first when none is ready."""
        if self._sub is None:
            self._sub = await self._nc.subscribe(self._inbox, cb=self._route)
        if self._early:
            msgs, self._early = self._early, []
            return msgs
        msgs = await self._pull({"batch": batch, "no_wait": True}, batch, wait_s + 1.0)
        if msgs:
            return msgs
        expires = int(wait_s * 1_000_000_000)
        started = asyncio.get_running_loop().time()
        msgs = await self._pull({"batch": 1, "expires": expires}, 1, wait_s + 1.0)
        if not msgs and asyncio.get_running_loop().time() - started < wait_s / 2:
            # Refused at once (e.g. too many unacknowledged): do not spin.
            await asyncio.sleep(wait_s / 2)
        return msgs

    async def _pull(self, request: dict[str, object], size: int, timeout: float) -> list[Msg]:
        pull = self._current = _Pull(size)
        try:
            await self._nc.publish(self._api, json.dumps(request).encode(), reply=self._inbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pull.done), timeout)
            return pull.msgs
        finally:
            self._current = None

    async def close(self) -> None:
        """Drop the inbox subscription."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
