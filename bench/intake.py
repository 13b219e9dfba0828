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
from sexto_devstack.procs import environ, free_port, spawn, stop, wait_for_port
from sexto_events.principal import Role
from sexto_service.auth.issuer import ensure_key, mint

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
    async with httpx.AsyncClient() as client:
        for _ in range(300):
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


def service_env(root: Path, nats_url: str, database_url: str) -> tuple[dict[str, str], Path]:
    """The environment of a benchmarked intake server, and its token issuer's key file."""
    key_file = root / "issuer" / "ed25519.pem"
    ensure_key(key_file)
    env = environ(
        SEXTO_NATS_URL=nats_url,
        SEXTO_DATABASE_URL=database_url,
        SEXTO_AUTH_LOCAL_KEY_FILE=str(key_file),
        PYTHONPATH=str(ROOT),
        # One partner at full speed: the per-caller write limit would refuse it by design.
        SEXTO_RATE_WRITES_PER_MINUTE="0",
    )
    return env, key_file


async def run(root: Path, nats_url: str, database_url: str, scale: float) -> list[dict[str, Any]]:
    """Both endpoints, saturated then at a steady 100 requests/s."""
    env, key_file = service_env(root, nats_url, database_url)
    intake, intake_url = start_server(
        ["--factory", "sexto_intake.bootstrap:create_app"], env, root / "intake.log"
    )
    bare, bare_url = start_server(["bench.bare_app:app"], env, root / "bare.log")
    try:
        await wait_ready(intake_url)
        await seed(intake_url, key_file)
        token = mint(ensure_key(key_file), role=Role.INTERVENER, subject="iv-demo-1",
                     school="ecole-des-erables", ttl_s=3600)  # fmt: skip
        auth = {"Authorization": f"Bearer {token}"}
        for url in (bare_url, intake_url):  # warm-up
            await saturate(url, auth, 8, 64)
        total = int(640 * scale)
        bare_rate = await saturate(bare_url, auth, 32, total)
        ours_rate = await saturate(intake_url, auth, 32, total)
        bare_lat = await steady(bare_url, auth, 100, 10 * scale)
        ours_lat = await steady(intake_url, auth, 100, 10 * scale)
    finally:
        stop(intake)
        stop(bare)
    rows: list[dict[str, Any]] = [
        {
            "name": "POST /v1/cases, 32 concurrent clients",
            "unit": "requests/s",
            "ours": ours_rate,
            "baseline": bare_rate,
            "baseline_name": "bare FastAPI: validate + one js.publish",
            "ratio": ours_rate / bare_rate,
            "target": ">= 0.7x",
            "met": ours_rate / bare_rate >= 0.7,
        }
    ]
    for q in (50, 99):
        ours, base = percentile(ours_lat, q), percentile(bare_lat, q)
        rows.append(
            {
                "name": f"POST /v1/cases at 100 requests/s, p{q}",
                "unit": "ms",
                "ours": ours,
                "baseline": base,
                "baseline_name": "bare FastAPI: validate + one js.publish",
                "ratio": base / ours,
                "target": "<= 50 ms" if q == 99 else "",
                "met": ours <= 50 if q == 99 else None,
            }
        )
    return rows
