"""The acknowledgements of a store's appends, received on one inbox subscription.

nats-py's `request` makes a fresh random token per call (a NUID in Python and a
`secrets.token_hex`, a system call), a done-callback and an `asyncio.wait_for`: about 10 µs
of an append's client CPU, measured. Here a token is a counter on the store's own inbox
(under the connection's inbox prefix, which NATS permissions expect), and the timeout is
one timer handle. What a caller sees is what `request` gives: the reply, or nats-py's
`TimeoutError` or `NoRespondersError`.
"""

from __future__ import annotations

import asyncio
import itertools

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

NO_RESPONDERS = "503"  # the status the server answers when no stream captures the subject


def _expire(waiter: asyncio.Future[Msg]) -> None:
    if not waiter.done():
        waiter.set_exception(NatsTimeout())


class Acks:
    """Request-reply for publishes to the stream, one inbox subscription for all."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = ""  # made with the subscription: the connection's inbox prefix then
        self._sub: Subscription | None = None
        self._subscribing = asyncio.Lock()  # the first appends at once make one subscription
        self._closed = False
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._ids = itertools.count()

    async def request(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Msg:
        """Publish and wait for the server's reply (nats-py's errors on timeout or when no
        stream captures `subject`)."""
        if self._sub is None:
            async with self._subscribing:
                if self._closed:
                    raise ConnectionClosedError
                if self._sub is None:
                    self._prefix = self._nc.new_inbox()
                    self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._route)
        token = str(next(self._ids))
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = waiter
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await self._nc.publish(subject, body, reply=f"{self._prefix}.{token}", headers=headers)
            reply = await waiter
        finally:
            timer.cancel()
            del self._waiting[token]
            if not waiter.done():
                waiter.cancel()  # the caller was cancelled: nothing waits for this reply
            elif not waiter.cancelled():
                waiter.exception()  # a timeout that lost the race to a cancellation: seen
        if reply.headers and reply.headers.get("Status") == NO_RESPONDERS:
            raise NoRespondersError
        return reply

    async def _route(self, msg: Msg) -> None:
        waiter = self._waiting.get(msg.subject[len(self._prefix) + 1 :])
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    async def close(self) -> None:
        """Drop the inbox subscription; a request after this is refused (the connection's
        ConnectionClosedError), never subscribed again."""
        async with self._subscribing:
            self._closed = True
            if self._sub is not None:
                await self._sub.unsubscribe()
                self._sub = None
