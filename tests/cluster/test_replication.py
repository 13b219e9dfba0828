"""R3 under failure on a real 3-node cluster: a leader killed mid-append, a follower paused,
a node back from an empty disk. Every acknowledged event is kept, once, on every node."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from sexto_devstack.nats_cluster import NatsCluster, wait_healthy
from sexto_events.store import EventStore

from tests.cluster.support import (
    all_nodes_hold,
    check_every_acknowledged_event_once,
    leader,
    node_state,
    stream_info,
    wait_acknowledged,
    writing,
)

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


async def test_the_stream_is_replicated_on_three_nodes_that_fsync_always(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    info = await stream_info(cluster_nc)
    assert info["config"]["num_replicas"] == 3
    assert len(info["cluster"]["replicas"]) == 2
    assert {n.data_dir.name for n in cluster.nodes} == {"node-1", "node-2", "node-3"}


async def test_a_leader_killed_during_appends_loses_no_acknowledged_event(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    writers, stop, task = await writing(r3_store, cases=6)
    await wait_acknowledged(writers, more_than=20)
    killed = await leader(cluster_nc, cluster)
    before = sum(len(w.acknowledged) for w in writers)
    killed.kill()
    await wait_acknowledged(writers, more_than=max(len(w.acknowledged) for w in writers) + 20)
    assert (await leader(cluster_nc, cluster)) is not killed
    stop.set()
    await task
    after = sum(len(w.acknowledged) for w in writers)
    assert after > before  # appends went on under the new leader
    assert sum(w.retries for w in writers) > 0  # some appends had no answer and were retried

    killed.start()
    wait_healthy(killed)
    assert await check_every_acknowledged_event_once(r3_store, writers) == after
    await all_nodes_hold(cluster, after)  # the killed node caught up too


async def test_a_paused_follower_neither_blocks_appends_nor_misses_them(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    writers, stop, task = await writing(r3_store, cases=4)
    await wait_acknowledged(writers, more_than=10)
    head = await leader(cluster_nc, cluster)
    follower = next(n for n in cluster.nodes if n is not head)
    follower.pause()
    try:
        during = sum(len(w.acknowledged) for w in writers)
        await wait_acknowledged(writers, more_than=max(len(w.acknowledged) for w in writers) + 20)
        assert sum(len(w.acknowledged) for w in writers) > during  # the other two acknowledge
    finally:
        follower.resume()
    await wait_acknowledged(writers, more_than=max(len(w.acknowledged) for w in writers) + 5)
    stop.set()
    await task
    total = sum(len(w.acknowledged) for w in writers)
    assert await check_every_acknowledged_event_once(r3_store, writers) == total
    await all_nodes_hold(cluster, total)


async def test_a_node_restarted_from_an_empty_disk_catches_up(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    writers, stop, task = await writing(r3_store, cases=4)
    await wait_acknowledged(writers, more_than=15)
    head = await leader(cluster_nc, cluster)
    lost = next(n for n in cluster.nodes if n is not head)
    lost.kill()
    lost.wipe()
    assert not lost.store_dir.exists()
    await wait_acknowledged(writers, more_than=max(len(w.acknowledged) for w in writers) + 15)
    stop.set()
    await task
    total = sum(len(w.acknowledged) for w in writers)

    lost.start()
    wait_healthy(lost)
    await all_nodes_hold(cluster, total)
    state = node_state(lost)
    assert state is not None
    assert state["last_seq"] == (await stream_info(cluster_nc))["state"]["last_seq"]
    assert await check_every_acknowledged_event_once(r3_store, writers) == total


async def test_appends_resume_once_a_quorum_is_back(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    writers, stop, task = await writing(r3_store, cases=2)
    await wait_acknowledged(writers, more_than=5)
    down = cluster.nodes[1:]
    for node in down:
        node.kill()
    await asyncio.sleep(3)
    stalled = sum(len(w.acknowledged) for w in writers)
    await asyncio.sleep(3)
    assert sum(len(w.acknowledged) for w in writers) <= stalled + len(writers)  # no quorum
    for node in down:
        node.start()
    await wait_acknowledged(writers, more_than=max(len(w.acknowledged) for w in writers) + 10)
    stop.set()
    await task
    total = sum(len(w.acknowledged) for w in writers)
    assert await check_every_acknowledged_event_once(r3_store, writers) == total
    await all_nodes_hold(cluster, total)
