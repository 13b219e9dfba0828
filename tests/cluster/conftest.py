"""A 3-node cluster per test (each test breaks nodes): free loopback ports, fsync always."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from sexto_devstack.nats_cluster import NatsCluster
from sexto_events.connection import connect
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

pytestmark = pytest.mark.cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    os.chmod(tmp_path, 0o755)
    started = NatsCluster.on_free_ports(tmp_path / "cluster").start()
    yield started
    for node in started.nodes:
        if node.process is not None and node.process.poll() is None:
            node.resume()  # a paused node would never stop
    started.stop()


@pytest.fixture
async def cluster_nc(cluster: NatsCluster) -> AsyncIterator[Client]:
    client = await connect(
        cluster.url, name="sexto-cluster-tests", max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    yield client
    await client.close()


@pytest.fixture
async def r3_store(cluster_nc: Client) -> AsyncIterator[EventStore]:
    store = EventStore(cluster_nc, source="sexto/tests", spec=StreamSpec(replicas=3), timeout=2.0)
    await store.ensure_stream()
    yield store
    await store.close()
