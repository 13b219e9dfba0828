"""Escalation appended -> webhook received, at a steady 50 and 200 escalations/s, beside raw
NATS.

The notification service runs as a real uvicorn process; the receiver (the partner helper
of deploy/examples, verifying every signature) runs in this process, so both ends read the
same clock. The baseline is a plain core NATS publish to a subscriber at the same rate.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client
from sexto_devstack.procs import environ, free_port, stop
from sexto_events.catalogue.escalation import EscalatedStudent, EscalationRequested
from sexto_events.consumer import consumer_info
from sexto_events.errors import ConcurrencyConflict
from sexto_events.model import CaseVersion, NewEvent
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_service.auth.issuer import ensure_key, mint

from bench.fixtures import fresh_cases
from bench.intake import start_server, wait_ready
from bench.rows import row
from bench.stats import percentile
from tests.support.events import reported

ROOT = Path(__file__).resolve().parents[1]
RATES = (50.0, 200.0)
TERRITORY = "benchhook"


def receiver_helper() -> Any:
    spec = importlib.util.spec_from_file_location(
        "webhook_receiver", ROOT / "deploy" / "examples" / "webhook_receiver.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def raw_nats(nc: Client, count: int, rate: float) -> list[float]:
    """Core NATS publish -> subscriber latency (ms) at the same steady rate."""
    sent: dict[int, float] = {}
    got: list[float] = []
    done = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        got.append((time.perf_counter() - sent[int(msg.data)]) * 1000)
        if len(got) == count:
            done.set()

    sub = await nc.subscribe("bench.latency", cb=on_msg)
    start = time.perf_counter()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent[i] = time.perf_counter()
        await nc.publish("bench.latency", str(i).encode())
        await nc.flush()
    await asyncio.wait_for(done.wait(), 30)
    await sub.unsubscribe()
    return got


async def run(
    root: Path, nc: Client, nc_raw: Client, store: EventStore, dsn: str, master_key: bytes,
    scale: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """Latency percentiles at each rate, ours beside raw NATS; the service's peak RSS."""
    count = max(50, int(1000 * scale))
    key_file = root / "issuer-hook" / "ed25519.pem"
    ensure_key(key_file)
    env = environ(
        SEXTO_NATS_URL=str(nc.connected_url.geturl() if nc.connected_url else ""),
        SEXTO_DATABASE_URL=dsn,
        SEXTO_MASTER_KEY=base64.b64encode(master_key).decode(),
        SEXTO_AUTH_LOCAL_KEY_FILE=str(key_file),
        SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS="true",
        PYTHONPATH=str(ROOT),
    )
    helper = receiver_helper()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    arrived: dict[str, float] = {}
    received = threading.Event()

    def on_event(_msg_id: str, event: dict[str, Any]) -> None:
        arrived[event["id"]] = time.perf_counter()
        if len(arrived) >= count * len(RATES):
            received.set()

    port = free_port()
    server = helper.Receiver([secret], on_event).server("127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service, url = start_server(
        ["--factory", "sexto_notification.bootstrap:create_app"], env, root / "notification.log"
    )
    try:
        await wait_ready(url)
        token = mint(ensure_key(key_file), role=Role.POLICE_DISPATCH, subject="bench-dispatch",
                     territory=TERRITORY, ttl_s=3600)  # fmt: skip
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.post(
                "/v1/subscriptions",
                json={"url": f"http://127.0.0.1:{port}/hook", "types": ["escalation.*"],
                      "secret": secret},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert response.status_code == 201, response.text
        cases = fresh_cases(TERRITORY, 100)
        for case in cases:
            await store.append(case, [reported()], CaseVersion.new())
        await settled(nc, "notification-dispatch")
        sent: dict[float, dict[str, float]] = {rate: {} for rate in RATES}

        async def escalate(i: int, rate: float) -> None:
            case = cases[i % len(cases)]
            event = NewEvent(
                EscalationRequested(
                    school_id="school-bench", protocol="sexto-qc", urgency="urgent",
                    students=[EscalatedStudent(student_ref="s1", roles=["sender"],
                                               indication="impulsive")],
                    seal_numbers=[], intervener_ref="iv-1",
                    assessment_event_id=str(uuid.uuid4()),
                ),
                "sexto-escalation", "service", event_id=str(uuid.uuid4()),
            )  # fmt: skip
            assert event.event_id is not None
            # The service records each delivery on the case too: append at the case's
            # current version, timed from the attempt that lands.
            for _ in range(20):
                version = (await store.load(case)).version
                sent[rate][event.event_id] = time.perf_counter()
                try:
                    await store.append(case, [event], version)
                except ConcurrencyConflict:
                    continue
                return
            raise RuntimeError("could not append")

        for rate in RATES:
            start = time.perf_counter()
            tasks: list[asyncio.Task[None]] = []
            for i in range(count):
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                # One case's appends follow one another; different cases overlap.
                if i >= len(cases):
                    await tasks[i - len(cases)]
                tasks.append(asyncio.create_task(escalate(i, rate)))
            await asyncio.gather(*tasks)
            await settled(nc, "notification-dispatch")
        await asyncio.to_thread(received.wait, 60)
    finally:
        stop(service)
        server.shutdown()
        server.server_close()
    rows = []
    for rate in RATES:
        ours = [(arrived[k] - t) * 1000 for k, t in sent[rate].items() if k in arrived]
        assert len(ours) == count, f"{count - len(ours)} webhooks never arrived"
        base = await raw_nats(nc_raw, count, rate)
        for q in (50, 99):
            rows.append(
                row(f"escalation appended -> webhook received at {rate:g}/s, p{q}", "ms",
                    percentile(ours, q), percentile(base, q),
                    f"core NATS publish -> subscriber at {rate:g}/s", lower_is_better=True,
                    ceiling=15.0 if (rate, q) == (50.0, 99) else None)
            )  # fmt: skip
    return rows


async def settled(nc: Client, durable: str) -> None:
    """Until the service's consumer has taken every event so far."""
    for _ in range(1200):
        try:
            info = await consumer_info(nc, "CASES", durable)
            if info["num_pending"] == 0 and info["num_ack_pending"] == 0:
                return
        except Exception:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{durable} did not settle")
