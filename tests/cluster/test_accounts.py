"""The generated accounts on a real 3-node cluster: a police integration reads its own
territory's escalations and nothing else, and writes nothing; a service publishes events
of its own contexts only. Each refusal is the server's (a permissions violation), each
beside the allowed action it differs from."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from sexto_devstack.accounts import accounts_config, dispatch_inbox
from sexto_devstack.nats_cluster import NatsCluster
from sexto_events.connection import connect
from sexto_events.stream import StreamSpec

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "invented-password"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    directory = json.loads((ROOT / "deploy" / "seed" / "directory.json").read_text())
    accounts = accounts_config(directory, lambda _: json.dumps(PASSWORD))
    data = tmp_path_factory.mktemp("secured")
    os.chmod(data, 0o755)
    cluster = NatsCluster.on_free_ports(data, extra_config=accounts).start()
    yield cluster
    cluster.stop()


class Connected:
    """A user's connection and the errors the server sent it."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Client | None = None

    async def open(self, cluster: NatsCluster, user: str, **options: Any) -> Client:
        async def collect(error: Exception) -> None:
            self.errors.append(str(error))

        urls = ",".join(f"nats://{user}:{PASSWORD}@127.0.0.1:{node.port}" for node in cluster.nodes)
        self.nc = await connect(urls, error_cb=collect, **options)
        return self.nc

    async def violation(self, fragment: str) -> None:
        for _ in range(50):
            if any(
                "permissions violation" in e and fragment.lower() in e.lower() for e in self.errors
            ):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no permissions violation for {fragment}: {self.errors}")


@pytest.fixture
async def users(secured: NatsCluster) -> AsyncIterator[dict[str, Connected]]:
    made = {name: Connected() for name in ("intake", "escalation", "dispatch-spvm")}
    await made["intake"].open(secured, "intake")
    await made["escalation"].open(secured, "escalation")
    await made["dispatch-spvm"].open(secured, "dispatch-spvm", inbox_prefix=dispatch_inbox("spvm"))
    yield made
    for each in made.values():
        assert each.nc is not None
        await each.nc.close()


async def request(nc: Client, subject: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return dict(json.loads((await nc.request(subject, data, 5)).data))


async def stored(nc: Client) -> int:
    return int((await request(nc, "$JS.API.STREAM.INFO.CASES", b""))["state"]["messages"])


def consumer(territory: str) -> dict[str, Any]:
    return {
        "stream_name": "CASES",
        "config": {
            "durable_name": "dispatch-spvm",
            "name": "dispatch-spvm",
            "filter_subject": f"cases.{territory}.*.escalation.>",
            "ack_policy": "explicit",
            "deliver_policy": "all",
        },
    }


async def test_police_read_their_own_territory_only_and_write_nothing(
    users: dict[str, Connected],
) -> None:
    escalation, police = users["escalation"].nc, users["dispatch-spvm"]
    assert escalation is not None
    assert police.nc is not None
    created = await request(
        escalation, "$JS.API.STREAM.CREATE.CASES", StreamSpec(replicas=3).config()
    )
    assert "error" not in created, created
    for territory in ("spvm", "laurentides"):
        ack = await request(escalation, f"cases.{territory}.c1.escalation.requested", b"{}")
        assert "error" not in ack, ack

    own = await request(
        police.nc,
        "$JS.API.CONSUMER.CREATE.CASES.dispatch-spvm.cases.spvm.*.escalation.>",
        consumer("spvm"),
    )
    assert own["config"]["filter_subject"] == "cases.spvm.*.escalation.>"
    pulled = await police.nc.subscribe(f"{dispatch_inbox('spvm')}.pull")
    await police.nc.publish(
        "$JS.API.CONSUMER.MSG.NEXT.CASES.dispatch-spvm",
        # Long enough for a new consumer of a 3-replica stream on a busy machine (at 0.5 s
        # the pull once expired before the first message came).
        json.dumps({"batch": 5, "expires": 3_000_000_000}).encode(),
        reply=f"{dispatch_inbox('spvm')}.pull",
    )
    first = await pulled.next_msg(timeout=10)
    assert first.subject == "cases.spvm.c1.escalation.requested"  # its own, and only that
    end = await pulled.next_msg(timeout=10)
    assert (end.headers or {}).get("Status") == "408"  # no other message, the pull expired

    with pytest.raises(NatsTimeout):  # another territory's escalations: refused
        await request(
            police.nc,
            "$JS.API.CONSUMER.CREATE.CASES.dispatch-spvm.cases.laurentides.*.escalation.>",
            consumer("laurentides"),
        )
    await police.violation(
        'publish to "$js.api.consumer.create.cases.dispatch-spvm.cases.laurentides'
    )

    await police.nc.subscribe("cases.laurentides.>")  # a plain subscription: refused
    await police.violation('subscription to "cases.laurentides.>"')
    await police.nc.subscribe("_INBOX.>")  # the services' replies: refused
    await police.violation('subscription to "_INBOX.>"')
    with pytest.raises(NatsTimeout):  # a direct get reads any subject: refused
        await request(police.nc, "$JS.API.DIRECT.GET.CASES", {"seq": 2})
    await police.violation('publish to "$js.api.direct.get.cases"')

    before = await stored(escalation)
    with pytest.raises(NatsTimeout):  # police never write to the log
        await request(police.nc, "cases.spvm.c1.escalation.closed", b"{}")
    await police.violation('publish to "cases.spvm.c1.escalation.closed"')
    assert await stored(escalation) == before


async def test_a_service_publishes_events_of_its_own_contexts_only(
    users: dict[str, Connected],
) -> None:
    intake = users["intake"]
    assert intake.nc is not None
    await request(intake.nc, "$JS.API.STREAM.CREATE.CASES", StreamSpec(replicas=3).config())
    before = await stored(intake.nc)
    ack = await request(intake.nc, "cases.spvm.c2.intake.case_reported", b"{}")
    assert "error" not in ack, ack  # its own context

    with pytest.raises(NatsTimeout):  # intake never records an escalation
        await request(intake.nc, "cases.spvm.c2.escalation.requested", b"{}")
    await intake.violation('publish to "cases.spvm.c2.escalation.requested"')
    assert await stored(intake.nc) == before + 1


async def test_a_service_can_neither_delete_the_log_nor_take_a_police_consumer(
    users: dict[str, Connected],
) -> None:
    escalation = users["escalation"]
    assert escalation.nc is not None
    await request(escalation.nc, "$JS.API.STREAM.CREATE.CASES", StreamSpec(replicas=3).config())
    ack = await request(escalation.nc, "cases.spvm.c3.escalation.requested", b"{}")
    assert "error" not in ack, ack
    before = await stored(escalation.nc)

    for action in ("DELETE", "PURGE", "UPDATE"):
        with pytest.raises(NatsTimeout):
            await request(escalation.nc, f"$JS.API.STREAM.{action}.CASES", b"{}")
        await escalation.violation(f'publish to "$js.api.stream.{action.lower()}.cases"')
    with pytest.raises(NatsTimeout):
        await request(escalation.nc, "$JS.API.STREAM.MSG.DELETE.CASES", {"seq": 1})
    await escalation.violation('publish to "$js.api.stream.msg.delete.cases"')
    assert await stored(escalation.nc) == before  # the log is whole

    # A police consumer with a wider filter, under the police user's name: refused.
    wider = consumer("spvm")
    wider["config"]["filter_subject"] = "cases.>"
    with pytest.raises(NatsTimeout):
        await request(escalation.nc, "$JS.API.CONSUMER.CREATE.CASES.dispatch-spvm.cases.>", wider)
    await escalation.violation('publish to "$js.api.consumer.create.cases.dispatch-spvm.cases.>"')
    with pytest.raises(NatsTimeout):
        await request(escalation.nc, "$JS.API.CONSUMER.DURABLE.CREATE.CASES.dispatch-spvm", wider)
    await escalation.violation('publish to "$js.api.consumer.durable.create.cases.dispatch-spvm"')
    with pytest.raises(NatsTimeout):
        await request(escalation.nc, "$JS.API.CONSUMER.DELETE.CASES.dispatch-spvm", b"")
    await escalation.violation('publish to "$js.api.consumer.delete.cases.dispatch-spvm"')

    # Its own consumers are still its to make.
    own = consumer("spvm")
    own["config"].update(durable_name="escalation-test", name="escalation-test")
    made = await request(
        escalation.nc,
        "$JS.API.CONSUMER.CREATE.CASES.escalation-test.cases.spvm.*.escalation.>",
        own,
    )
    assert made["config"]["name"] == "escalation-test", made


async def test_each_user_receives_replies_on_its_own_inbox_only(
    users: dict[str, Connected],
) -> None:
    intake, escalation = users["intake"], users["escalation"]
    assert intake.nc is not None
    assert escalation.nc is not None
    # Requests work: each connection's replies come to its own inbox prefix.
    await request(intake.nc, "$JS.API.STREAM.CREATE.CASES", StreamSpec(replicas=3).config())
    assert await stored(intake.nc) >= 0
    assert intake.nc.new_inbox().startswith("_INBOX_intake.")
    assert escalation.nc.new_inbox().startswith("_INBOX_escalation.")

    await intake.nc.subscribe("_INBOX_escalation.>")  # another's replies (its acks): refused
    await intake.violation('subscription to "_INBOX_escalation.>"')
    await intake.nc.subscribe("_INBOX.>")  # the old shared inbox: refused
    await intake.violation('subscription to "_INBOX.>"')
    with pytest.raises(NatsTimeout):  # nor may it forge a reply on another's inbox
        await request(intake.nc, "_INBOX_escalation.forged", b"{}")
    await intake.violation('publish to "_INBOX_escalation.forged"')
