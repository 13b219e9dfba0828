"""Batched direct get: a case's events in one request, replies collected on one inbox.

nats-py has no wrapper for the batch form of $JS.API.DIRECT.GET (server >= 2.11), so the
request is sent by hand. One wildcard inbox subscription serves every concurrent load.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from sexto_events.errors import EventLogError

STATUS = "Status"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as the stream holds it."""

    seq: int
    subject: str
    body: bytes
    msg_id: str | None


class DirectReader:
    """Reads all messages of a subject filter, in stream order, with batched direct gets."""

    def __init__(self, nc: Client, stream: str, batch: int = 512, timeout: float = 5.0) -> None:
        self._nc = nc
        self._api = f"$JS.API.DIRECT.GET.{stream}"
        self._batch = batch
        self._timeout = timeout
        self._prefix = nc.new_inbox()
        self._sub: Subscription | None = None
        self._queues: dict[str, asyncio.Queue[Msg]] = {}
        self._ids = itertools.count()

    async def _ensure_sub(self) -> None:
        if self._sub is None:
            self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._route)

    async def _route(self, msg: Msg) -> None:
        queue = self._queues.get(msg.subject.rsplit(".", 1)[-1])
        if queue is not None:
            queue.put_nowait(msg)

    async def read(
        self, subject_filter: str, start_seq: int = 1, up_to_seq: int | None = None
    ) -> list[StoredMessage]:
        """Every message matching `subject_filter` from `start_seq` (up to `up_to_seq`)."""
        await self._ensure_sub()
        token = str(next(self._ids))
        queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._queues[token] = queue
        out: list[StoredMessage] = []
        try:
            seq = start_seq
            while True:
                request = {"seq": seq, "next_by_subj": subject_filter, "batch": self._batch}
                await self._nc.publish(
                    self._api, json.dumps(request).encode(), reply=f"{self._prefix}.{token}"
                )
                pending = await self._collect(queue, out, up_to_seq)
                if pending == 0 or (up_to_seq is not None and out and out[-1].seq >= up_to_seq):
                    break
                seq = out[-1].seq + 1
        finally:
            del self._queues[token]
        if up_to_seq is not None:
            out = [m for m in out if m.seq <= up_to_seq]
        return out

    async def _collect(
        self, queue: asyncio.Queue[Msg], out: list[StoredMessage], up_to_seq: int | None
    ) -> int:
        """Collect one batch's replies; return how many matching messages remain after it."""
        pending = 0
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), self._timeout)
            except TimeoutError:
                raise EventLogError(
                    "the NATS server did not answer a direct get in time: check that the "
                    "stream exists and allows direct access"
                ) from None
            headers = msg.headers or {}
            status = headers.get(STATUS)
            if status == "204":
                return pending
            if status == "404":
                return 0
            if status is not None:
                raise EventLogError(f"direct get failed with status {status}: {headers}")
            pending = int(headers.get("Nats-Num-Pending", "0"))
            out.append(
                StoredMessage(
                    seq=int(headers["Nats-Sequence"]),
                    subject=headers["Nats-Subject"],
                    body=msg.data,
                    msg_id=headers.get("Nats-Msg-Id"),
                )
            )

    async def close(self) -> None:
        """Drop the inbox subscription."""
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
