"""R3 under failure on a real 3-node cluster: a leader killed mid-append, a follower paused,
a node back from an empty disk. Every acknowledged event is kept, once, on every node."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.aio.client import Client
from sexto_devstack.nats_cluster import NatsCluster, wait_healthy
from sexto_events.errors import ConcurrencyConflict
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from tests.cluster.support import a_follower, a_note, leader, node_state, stream_info, writing

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
    appends = await writing(r3_store, cases=6)
    await appends.more(20)
    killed = await leader(cluster_nc, cluster)
    before = appends.total()
    killed.kill()
    await appends.more(20)
    assert (await leader(cluster_nc, cluster)) is not killed
    assert await appends.finish() > before  # appends went on under the new leader
    assert sum(w.retries for w in appends.writers) > 0  # some had no answer and were retried

    killed.start()
    wait_healthy(killed)
    await appends.check(cluster)  # the killed node caught up too


async def test_a_paused_follower_neither_blocks_appends_nor_misses_them(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    appends = await writing(r3_store, cases=4)
    await appends.more(10)
    follower = await a_follower(cluster_nc, cluster)
    follower.pause()
    try:
        during = appends.total()
        await appends.more(20)
        assert appends.total() > during  # the other two acknowledge
    finally:
        follower.resume()
    await appends.more(5)
    await appends.finish()
    await appends.check(cluster)


async def test_a_node_restarted_from_an_empty_disk_catches_up(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    appends = await writing(r3_store, cases=4)
    await appends.more(15)
    lost = await a_follower(cluster_nc, cluster)
    lost.kill()
    lost.wipe()
    assert not lost.store_dir.exists()
    await appends.more(15)
    await appends.finish()

    lost.start()
    wait_healthy(lost)
    await appends.check(cluster)
    state = node_state(lost)
    assert state is not None
    assert state["last_seq"] == (await stream_info(cluster_nc))["state"]["last_seq"]


async def test_appends_resume_once_a_quorum_is_back(
    r3_store: EventStore, cluster_nc: Client, cluster: NatsCluster
) -> None:
    appends = await writing(r3_store, cases=2)
    await appends.more(5)
    down = cluster.nodes[1:]
    for node in down:
        node.kill()
    await asyncio.sleep(3)
    stalled = appends.total()
    await asyncio.sleep(3)
    assert appends.total() <= stalled + len(appends.writers)  # no quorum, no acknowledgement
    for node in down:
        node.start()
    await appends.more(10)
    await appends.finish()
    await appends.check(cluster)


async def test_a_stale_writer_on_a_replicated_stream_is_a_concurrency_conflict(
    r3_store: EventStore,
) -> None:
    case = CaseRef(f"t{uuid.uuid4().hex[:8]}", "stale")
    first = await r3_store.append(case, [a_note(str(uuid.uuid4()))], CaseVersion(0, ""))
    with pytest.raises(ConcurrencyConflict):  # not a refusal: the caller decides again
        await r3_store.append(case, [a_note(str(uuid.uuid4()))], CaseVersion(0, ""))
    assert [e.id for e in (await r3_store.load(case)).events] == first.event_ids
