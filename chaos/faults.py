"""One fault at a time, at random, until told to stop: kill -9 a service instance (the
supervisor restarts it), kill -9 a NATS node (the stream's leader half the time) and start
it again, pause a follower (SIGSTOP, then SIGCONT), restart PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from collections import Counter

from nats.aio.client import Client
from sexto_devstack.nats_cluster import NatsCluster, wait_healthy
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.run import Stack

KINDS = ("service", "service", "service", "nats", "pause", "postgres")
NODE_DOWN_S = (2.0, 5.0)
PAUSE_S = (2.0, 5.0)


class Faults:
    """The fault injector and what it did, by kind."""

    def __init__(self, stack: Stack, nc: Client, interval_s: float, rng: random.Random) -> None:
        assert isinstance(stack.nats, NatsCluster)
        self.stack = stack
        self.cluster: NatsCluster = stack.nats
        self.nc = nc
        self.interval_s = interval_s
        self.rng = rng
        self.done: Counter[str] = Counter()

    async def leader(self) -> NatsServer | None:
        """The node leading CASES now, if one answers."""
        try:
            reply = await self.nc.request("$JS.API.STREAM.INFO.CASES", b"", 2)
            name = json.loads(reply.data)["cluster"]["leader"]
        except Exception:
            return None
        return self.cluster.nodes[int(name.rsplit("-", 1)[1]) - 1]

    async def run(self, stop: asyncio.Event) -> None:
        """Inject faults every `interval_s` until `stop`; PostgreSQL at most every 20 s."""
        last_postgres = -1e9
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await asyncio.sleep(self.interval_s * self.rng.uniform(0.5, 1.5))
            kind = self.rng.choice(KINDS)
            if kind == "postgres" and loop.time() - last_postgres < 20:
                kind = "service"
            if kind == "service":
                self.kill_service()
            elif kind == "nats":
                await self.kill_node()
            elif kind == "pause":
                await self.pause_follower()
            else:
                last_postgres = loop.time()
                await asyncio.to_thread(self.restart_postgres)

    def kill_service(self) -> None:
        """SIGKILL one running service instance; the supervisor restarts it."""
        running = [
            (name, p)
            for name in self.stack.supervisor.children
            if (p := self.stack.supervisor.process(name)) is not None and p.poll() is None
        ]
        if not running:
            return
        name, process = self.rng.choice(running)
        process.send_signal(signal.SIGKILL)
        self.done[f"service:{name}"] += 1
        self.done["service"] += 1

    async def kill_node(self) -> None:
        """SIGKILL a node (the leader half the time), start it again after a while."""
        head = await self.leader()
        if head is not None and self.rng.random() < 0.5:
            node, kind = head, "nats-leader"
        else:
            node, kind = self.rng.choice(self.cluster.nodes), "nats-node"
        node.kill()
        self.done[kind] += 1
        await asyncio.sleep(self.rng.uniform(*NODE_DOWN_S))
        await asyncio.to_thread(node.start)
        await asyncio.to_thread(wait_healthy, node)

    async def pause_follower(self) -> None:
        """SIGSTOP a node that does not lead, SIGCONT it after a while."""
        head = await self.leader()
        node = self.rng.choice([n for n in self.cluster.nodes if n is not head])
        node.pause()
        self.done["pause"] += 1
        try:
            await asyncio.sleep(self.rng.uniform(*PAUSE_S))
        finally:
            node.resume()

    def restart_postgres(self) -> None:
        """Fast shutdown and start again on the same data."""
        postgres = self.stack.postgres
        assert postgres is not None
        postgres.stop()
        postgres.start()
        self.done["postgres"] += 1
