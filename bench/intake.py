"""POST /v1/cases under load, beside a bare FastAPI endpoint doing one js.publish.

Both run as real uvicorn processes on loopback; the load comes from this process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
from sexto_devstack.procs import environ, free_port, spawn, stop, wait_for_port
from sexto_events.principal import Role
from sexto_service.auth.issuer import ensure_key, mint

from bench.rows import ROUNDS, median, peak_rss_mb, row
from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
BODY = {
    "protocol": "sexto-qc",
    "school_id": "ecole-des-erables",
    "discovered_at": "2026-11-02T09:30:00-05:00",
    "discovery_channel": "student_disclosure",
    "summary": "A photo of a student was shared in a group chat during the lunch break.",
    "students": [
        {"name": "Maëlle Quintessa", "role": "depicted", "age": 14},
        {"name": "Orvald Pennywhistle", "role": "sender", "age": 15},
        {"name": "Tamsin Greyleaf", "role": "redistributor", "age": 15},
    ],
}


def start_server(target: list[str], env: dict[str, str], log: Path) -> tuple[Any, str]:
    """A uvicorn process on a free port."""
    port = free_port()
    proc = spawn(
        [sys.executable, "-m", "uvicorn", *target, "--port", str(port), "--no-access-log",
         "--log-level", "warning"],
        log=log, env=env,
    )  # fmt: skip
    wait_for_port(port, proc, log, timeout=60)
    return proc, f"http://127.0.0.1:{port}"


async def wait_ready(url: str) -> None:
    """Until /readyz answers 200: up and its read models caught up with the log."""
    async with httpx.AsyncClient() as client:
        for _ in range(1800):
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} not ready")


async def seed(url: str, key_file: Path) -> None:
    token = mint(ensure_key(key_file), role=Role.ADMIN, subject="bench")
    seed_file = json.loads((ROOT / "deploy" / "seed" / "directory.json").read_text())
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        for kind in ("territories", "agreements", "schools", "interveners"):
            for entry in seed_file[kind]:
                for _ in range(100):
                    response = await c.post(f"/v1/admin/{kind}", json=entry)
                    if response.status_code in (201, 409):
                        break
                    await asyncio.sleep(0.1)


async def saturate(url: str, headers: dict[str, str], clients: int, total: int) -> float:
    """Requests/s with `clients` concurrent clients, each request a new report."""
    per = total // clients

    async def client_loop(client: httpx.AsyncClient) -> None:
        for _ in range(per):
            response = await client.post(
                "/v1/cases", json=BODY, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 201, response.text

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        return per * clients / (time.perf_counter() - start)


async def steady(url: str, headers: dict[str, str], rate: float, seconds: float) -> list[float]:
    """Latencies (ms) of requests sent at a steady `rate` per second."""
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        start = time.perf_counter()
        response = await client.post(
            "/v1/cases", json=BODY, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        latencies.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 201, response.text

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client)))
        await asyncio.gather(*tasks)
    return latencies


STEADY_S = 10.0
"""Seconds at each steady rate, whatever the scale: a p99 needs a thousand requests."""

SERVICES = ("evaluation", "escalation", "notification")
"""Started after the latency figures, to take the reports intake wrote (peak RSS rows)."""


def service_env(root: Path, nats_url: str, database_url: str) -> tuple[dict[str, str], Path]:
    """The environment of a benchmarked intake server, and its token issuer's key file."""
    key_file = root / "issuer" / "ed25519.pem"
    ensure_key(key_file)
    env = environ(
        SEXTO_NATS_URL=nats_url,
        SEXTO_DATABASE_URL=database_url,
        SEXTO_AUTH_LOCAL_KEY_FILE=str(key_file),
        SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS="true",
        PYTHONPATH=str(ROOT),
        # One partner at full speed: the per-caller write limit would refuse it by design.
        SEXTO_RATE_WRITES_PER_MINUTE="0",
    )
    return env, key_file


async def run(root: Path, nats_url: str, database_url: str, scale: float) -> list[dict[str, Any]]:
    """Both endpoints saturated (median of rounds), then at a steady 100 and 200 requests/s;
    then each service's peak memory once the other three have taken every report."""
    env, key_file = service_env(root, nats_url, database_url)
    intake, intake_url = start_server(
        ["--factory", "sexto_intake.bootstrap:create_app"], env, root / "intake.log"
    )
    bare, bare_url = start_server(["bench.bare_app:app"], env, root / "bare.log")
    others: dict[str, Any] = {}
    rss: dict[str, float] = {}
    try:
        await wait_ready(intake_url)
        await seed(intake_url, key_file)
        token = mint(ensure_key(key_file), role=Role.INTERVENER, subject="iv-demo-1",
                     school="ecole-des-erables", ttl_s=3600)  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        for url in (bare_url, intake_url):  # warm-up
            await saturate(url, auth, 8, 64)
        total = int(640 * scale)
        rates: dict[str, list[float]] = {"bare": [], "ours": []}
        for _ in range(ROUNDS):
            rates["bare"].append(await saturate(bare_url, auth, 32, total))
            rates["ours"].append(await saturate(intake_url, auth, 32, total))
        steady_ms: dict[tuple[str, int], list[float]] = {}
        for rate in (100, 200):
            # A steady partner, not one arriving on the heels of a flood: intake's own read
            # models first take the reports of the rounds before (the bare server has none).
            await settled_all(nats_url)
            steady_ms["bare", rate] = await steady(bare_url, auth, rate, STEADY_S)
            steady_ms["ours", rate] = await steady(intake_url, auth, rate, STEADY_S)
        for name in SERVICES:
            others[name], url = start_server(
                ["--factory", f"sexto_{name}.bootstrap:create_app"], env, root / f"{name}.log"
            )
            await wait_ready(url)  # its consumers exist once it is ready
        await settled_all(nats_url)
        rss = {"intake": peak_rss_mb(intake.pid), "bare": peak_rss_mb(bare.pid)}
        rss |= {name: peak_rss_mb(proc.pid) for name, proc in others.items()}
    finally:
        for proc in (intake, bare, *others.values()):
            stop(proc)
    bare_name = "bare FastAPI: validate + one js.publish"
    rows: list[dict[str, Any]] = [
        row("POST /v1/cases, 32 concurrent clients", "requests/s", median(rates["ours"]),
            median(rates["bare"]), f"{bare_name} (median of {ROUNDS} rounds each)",
            at_least=0.85),
    ]  # fmt: skip
    for rate in (100, 200):
        for q, target in ((50, 0.67), (99, 0.5)):
            ours = percentile(steady_ms["ours", rate], q)
            base = percentile(steady_ms["bare", rate], q)
            rows.append(
                row(f"POST /v1/cases at {rate} requests/s, p{q}", "ms", ours, base, bare_name,
                    lower_is_better=True, at_least=target if rate == 100 else None)
            )  # fmt: skip
    for name in ("intake", *SERVICES):
        rows.append(
            row(f"peak RSS of {name} after the intake benchmark", "MB", rss[name], rss["bare"],
                "the bare FastAPI process, same run", lower_is_better=True)
        )  # fmt: skip
    return rows


async def settled_all(nats_url: str) -> None:
    """Until every durable consumer on CASES has been handed every event so far, then a
    moment to finish."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jsm()
        for _ in range(2400):
            infos = await js.consumers_info("CASES")
            durables = [i for i in infos if i.config.durable_name]
            if all(i.num_pending == 0 for i in durables):
                await asyncio.sleep(2)
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the services' consumers did not take every report")
    finally:
        await nc.close()
