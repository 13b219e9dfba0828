"""`make run-cluster`'s stack: three nodes, R3, two instances of each service; readiness
sees replicas and fsync; without a quorum a write is a 503 problem that says to retry and
leaves nothing behind; back up, the same request goes through once."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.errors import TimeoutError as NatsTimeout
from sexto_devstack.nats_cluster import NatsCluster, wait_healthy
from sexto_devstack.procs import free_port
from sexto_devstack.run import DEFAULT_PORTS, Plan, Stack
from sexto_devstack.seed import seed_directory
from sexto_devstack.transparency import ORIGIN
from sexto_events.connection import connect
from sexto_events.decode import parse_body
from sexto_events.model import CaseRef
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec
from sexto_legal.tlog_check import cosignature_time, open_checkpoint, parse_vkey
from sexto_legal.transparency.api import TreeClient
from sexto_service.auth.issuer import ensure_key, mint

from tests.cluster.support import stream_info
from tests.support.world import sexto_report

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("cluster-stack")
    os.chmod(data.parent, 0o755)
    os.chmod(data, 0o755)
    ports = {name: free_port() for name in DEFAULT_PORTS}
    running = Stack(Plan(data, ports, None, cluster=True, instances=2))
    try:
        running.start_servers()
        running.start_services()
        seed_directory(running.urls["intake"], ROOT / "deploy" / "seed" / "directory.json",
                       running.issuer_key, data / "directory-seeded")  # fmt: skip
        yield running
    finally:
        running.stop()


def headers(stack: Stack, key: str) -> dict[str, str]:
    token = mint(ensure_key(stack.issuer_key), role=Role.INTERVENER, subject="iv-demo-1",
                 school="ecole-des-erables")  # fmt: skip
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}


def report(stack: Stack, instance: str, key: str, timeout: float = 60) -> httpx.Response:
    body = sexto_report("ecole-des-erables")
    return httpx.post(f"{stack.urls[instance]}/v1/cases", json=body,
                      headers=headers(stack, key), timeout=timeout)  # fmt: skip


def stored_messages(stack: Stack) -> int:
    async def count() -> int:
        assert stack.nats is not None
        nc = await connect(stack.nats_url_for("operator"))
        try:
            return int((await stream_info(nc))["state"]["messages"])
        finally:
            await nc.close()

    return asyncio.run(count())


def consumers_idle(stack: Stack) -> bool:
    """Every durable consumer of CASES has taken everything: nothing pending, and nothing
    delivered and not yet acknowledged (an event refused while the quorum was lost waits
    there for its redelivery, 1 s then 5 s later, before its reactor appends again)."""

    async def check() -> bool:
        assert stack.nats is not None
        nc = await connect(stack.nats_url_for("operator"))
        try:
            reply = await nc.request("$JS.API.CONSUMER.LIST.CASES", b"{}", 5)
            listed = json.loads(reply.data)
            assert "error" not in listed, listed
            consumers = listed["consumers"]
            assert consumers, "the services' durable consumers are listed"
            return all(not c.get("num_pending") and not c.get("num_ack_pending") for c in consumers)
        finally:
            await nc.close()

    return asyncio.run(check())


def quiet_count(stack: Stack, still_s: float = 2.0, timeout: float = 90) -> int:
    """The stream's message count once the reactors have taken every event and stopped
    appending (quiet for `still_s`, with every consumer idle at the end)."""
    deadline = time.monotonic() + timeout
    last, since = stored_messages(stack), time.monotonic()
    while time.monotonic() - since < still_s or not consumers_idle(stack):
        assert time.monotonic() < deadline, "the stream never went quiet"
        time.sleep(0.3)
        now = stored_messages(stack)
        if now != last:
            last, since = now, time.monotonic()
    return last


def case_event_types(stack: Stack, case_id: str) -> list[str]:
    async def read() -> list[str]:
        assert stack.nats is not None
        nc = await connect(stack.nats_url_for("operator"))
        store = EventStore(nc, source="sexto/tests", spec=StreamSpec(replicas=3))
        try:
            raw = await store.read_raw(CaseRef("spvm", case_id))
            return [str(parse_body(m.body)["type"]) for m in raw]
        finally:
            await store.close()
            await nc.close()

    return asyncio.run(read())


def cluster_of(stack: Stack) -> NatsCluster:
    assert isinstance(stack.nats, NatsCluster)
    return stack.nats


def test_every_instance_is_ready_with_three_replicas_fsyncing_always(stack: Stack) -> None:
    assert len(stack.urls) == 8
    for name, url in stack.urls.items():
        answer: dict[str, Any] = httpx.get(f"{url}/readyz", timeout=10).json()
        assert answer["checks"]["stream"] == "ok", name
        assert answer["checks"]["fsync"] == "ok", name
    assert stack.env["SEXTO_STREAM_REPLICAS"] == "3"
    assert len(stack.env["SEXTO_NATS_MONITOR_URLS"].split(",")) == 3


def test_both_instances_take_writes_and_read_each_others_cases(stack: Stack) -> None:
    made = [report(stack, name, f"two-instances-{i}") for i, name in
            enumerate(["intake", "intake-2"] * 3)]  # fmt: skip
    assert [r.status_code for r in made] == [201] * 6, [r.text for r in made]
    for answer in made:
        case_id = answer.json()["case_id"]
        for name in ("intake", "intake-2"):
            deadline = time.monotonic() + 30
            while True:
                read = httpx.get(f"{stack.urls[name]}/v1/cases/{case_id}",
                                 headers=headers(stack, "unused"), timeout=10)  # fmt: skip
                if read.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert read.status_code == 200, (name, read.text)


def test_without_a_quorum_a_write_is_a_503_to_retry_and_nothing_is_half_written(
    stack: Stack,
) -> None:
    cluster = cluster_of(stack)
    before = quiet_count(stack)
    down = cluster.nodes[1:]
    for node in down:
        node.kill()
    try:
        refused = report(stack, "intake-2", "no-quorum-1")
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "2"
        problem = refused.json()
        assert problem["type"].endswith("/log-unavailable")
        assert "retry" in problem["detail"]
    finally:
        for node in down:
            node.start()
        for node in cluster.nodes:
            wait_healthy(node)
    deadline = time.monotonic() + 60
    while (again := report(stack, "intake", "no-quorum-1")).status_code == 503:
        assert time.monotonic() < deadline, again.text
        time.sleep(1)
    assert again.status_code == 201, again.text
    grown = quiet_count(stack)
    replay = report(stack, "intake-2", "no-quorum-1")
    assert replay.status_code == 201
    assert replay.json()["case_id"] == again.json()["case_id"]
    # The refused attempt may have been stored once the quorum came back (its outcome was
    # unknown, hence "retry"); either way the case holds one report, whole, and whatever
    # the log grew by since is that case's events: nothing half-written, nothing twice.
    types = case_event_types(stack, again.json()["case_id"])
    assert sum(1 for t in types if t.startswith("org.sexto.intake.case_reported.")) == 1, types
    assert grown - before == len(types)
    assert quiet_count(stack) == grown  # the replay wrote nothing


def test_the_cluster_configs_holding_passwords_are_readable_by_their_owner_only(
    stack: Stack,
) -> None:
    configs = sorted((stack.plan.data_dir / "nats-cluster").glob("*/nats-server.conf"))
    assert len(configs) == 3
    for config in configs:
        assert "password" in config.read_text()
        assert config.stat().st_mode & 0o777 == 0o600, config


def test_the_transparency_log_works_with_its_own_users(stack: Stack) -> None:
    """The tree answers the intake user's proof requests, the witness cosigns, the
    checkpoint is stored on its stream; the witness user cannot record events."""
    data = stack.plan.data_dir
    log_key = parse_vkey((data / "tlog" / "log.vkey").read_text().strip())
    witness_key = parse_vkey((data / "witness" / "witness.vkey").read_text().strip())
    assert report(stack, "intake", "transparency-users-1").status_code == 201

    async def check() -> None:
        intake = await connect(stack.nats_url_for("intake"))
        errors: list[str] = []

        async def collect(error: Exception) -> None:
            errors.append(str(error))

        witness = await connect(stack.nats_url_for("witness"), error_cb=collect)
        try:
            last = int((await stream_info(intake))["state"]["last_seq"])
            note = await TreeClient(intake, "CASES").checkpoint(covers_seq=last)
            checkpoint = open_checkpoint(note, log_key, ORIGIN)
            assert checkpoint.size >= last
            assert cosignature_time(note, witness_key) > 0  # the witness cosigned
            proof = await TreeClient(intake, "CASES").inclusion(0, checkpoint.size)
            assert checkpoint.size == 1 or proof
            published = await intake.request(
                "$JS.API.DIRECT.GET.CHECKPOINTS",
                json.dumps({"last_by_subj": "checkpoints.published"}).encode(),
                5,
            )
            stored_size = open_checkpoint(published.data, log_key, ORIGIN).size
            assert stored_size >= checkpoint.size  # acknowledged on its stream

            before = int((await stream_info(intake))["state"]["messages"])
            with pytest.raises(NatsTimeout):
                await witness.request("cases.spvm.forged.intake.case_reported", b"{}", 2)
            for _ in range(50):
                if any("permissions violation" in e for e in errors):
                    break
                await asyncio.sleep(0.05)
            assert any("permissions violation" in e and "cases.spvm.forged" in e for e in errors), (
                errors
            )
            assert int((await stream_info(intake))["state"]["messages"]) == before
        finally:
            await witness.close()
            await intake.close()

    asyncio.run(check())
