"""Writers that keep appending through failures, and each node's own view of the stream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.aio.client import Client
from nats.errors import Error as NatsError
from sexto_devstack.nats_cluster import NatsCluster
from sexto_devstack.nats_server import NatsServer
from sexto_events.catalogue.audit import CaseRead
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.errors import LogUnavailable
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore

UNKNOWN_OUTCOME = (LogUnavailable, NatsError, TimeoutError, ConnectionError)


def a_note(event_id: str) -> NewEvent:
    """An event without personal data (no key vault in these tests), with a fixed id."""
    return NewEvent(
        CaseRead(view="state", service="intake", policy_version=POLICY_VERSION),
        "analyst-1",
        "analyst",
        event_id=event_id,
    )


@dataclass
class Writer:
    """Appends to one case, one event at a time; an append without an answer is retried
    with the same event id at the same version until it is acknowledged (a client that
    never gives up on a write it started)."""

    store: EventStore
    case: CaseRef
    acknowledged: list[str] = field(default_factory=list)
    retries: int = 0
    version: CaseVersion = field(default_factory=lambda: CaseVersion(0, ""))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            event_id = str(uuid.uuid4())
            while True:
                try:
                    result = await self.store.append(self.case, [a_note(event_id)], self.version)
                    break
                except UNKNOWN_OUTCOME:
                    self.retries += 1
                    await asyncio.sleep(0.1)
            self.version = result.version
            self.acknowledged.append(event_id)


@dataclass
class Writing:
    """Writers appending to their cases in the background."""

    store: EventStore
    writers: list[Writer]
    stop: asyncio.Event
    task: Any

    def total(self) -> int:
        """Events acknowledged so far, all writers together."""
        return sum(len(w.acknowledged) for w in self.writers)

    async def more(self, events: int, timeout: float = 60) -> None:
        """Until every writer has `events` more acknowledged than the busiest one had."""
        target = max(len(w.acknowledged) for w in self.writers) + events
        deadline = time.monotonic() + timeout
        while any(len(w.acknowledged) < target for w in self.writers):
            counts = [len(w.acknowledged) for w in self.writers]
            assert time.monotonic() < deadline, f"stalled at {counts}, waiting for {target}"
            await asyncio.sleep(0.05)

    async def finish(self) -> int:
        """Stop the writers; the events acknowledged in all."""
        self.stop.set()
        await self.task
        return self.total()

    async def check(self, cluster: NatsCluster) -> None:
        """Each case holds exactly its acknowledged events, in order, once, chain verified;
        every node holds them all."""
        total = 0
        for writer in self.writers:
            loaded = await self.store.load(writer.case)  # verifies the chain
            assert [e.id for e in loaded.events] == writer.acknowledged, writer.case
            total += len(loaded.events)
        assert total == self.total()
        await all_nodes_hold(cluster, total)


async def writing(store: EventStore, cases: int) -> Writing:
    """Start `cases` writers, each on a case of its own."""
    territory = f"t{uuid.uuid4().hex[:8]}"
    writers = [Writer(store, CaseRef(territory, f"case-{i}")) for i in range(cases)]
    stop = asyncio.Event()
    return Writing(store, writers, stop, asyncio.gather(*(w.run(stop) for w in writers)))


async def stream_info(nc: Client, name: str = "CASES") -> dict[str, Any]:
    """The stream's info as its leader answers it."""
    for _ in range(100):
        try:
            info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{name}", b"", 2)).data)
            if "error" not in info:
                return dict(info)
        except NatsError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"stream {name} has no leader answering")


def node_named(cluster: NatsCluster, name: str) -> NatsServer:
    """The node of a server name (sexto-nats-<i>)."""
    return cluster.nodes[int(name.rsplit("-", 1)[1]) - 1]


async def leader(nc: Client, cluster: NatsCluster) -> NatsServer:
    """The node leading the stream now."""
    return node_named(cluster, (await stream_info(nc))["cluster"]["leader"])


async def a_follower(nc: Client, cluster: NatsCluster) -> NatsServer:
    """A node that neither leads the stream now nor serves this client (a paused server
    keeps its clients' connections open and answers none of their requests until the
    client's ping times out, minutes later)."""
    head = await leader(nc, cluster)
    serving = nc.connected_url.port if nc.connected_url else None
    return next(n for n in cluster.nodes if n is not head and n.port != serving)


def node_state(node: NatsServer, name: str = "CASES") -> dict[str, Any] | None:
    """The stream's state as this node itself holds it (its /jsz), or None if it holds none."""
    url = f"http://127.0.0.1:{node.http_port}/jsz?streams=true"
    for account in httpx.get(url, timeout=5).json().get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == name:
                return dict(stream["state"])
    return None


async def all_nodes_hold(cluster: NatsCluster, messages: int, timeout: float = 60) -> None:
    """Until every node holds exactly `messages` messages of the stream."""
    deadline = time.monotonic() + timeout
    while True:
        held = [(node_state(n) or {}).get("messages") for n in cluster.nodes]
        if held == [messages] * len(cluster.nodes):
            return
        assert time.monotonic() < deadline, f"nodes hold {held}, expected {messages} each"
        await asyncio.sleep(0.2)
