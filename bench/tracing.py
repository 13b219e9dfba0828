"""What tracing costs: intake's POST /v1/cases and the command loop with tracing on (every
span recorded and handed to a no-op exporter in batches) beside tracing off
(OTEL_SDK_DISABLED=true: the instrumentations in place, no span made), same run.

The two sides alternate (off then on, on then off, ...) and each keeps its best round, so a
neighbour's burst on a shared machine, or going first, does not favour one side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nats.aio.client import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracer
from sexto_devstack.procs import stop
from sexto_events.personal import PersonalDataCodec
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_service.auth.issuer import ensure_key, mint
from sexto_service.telemetry import batch_processor

from bench import intake, peer
from bench.traced_intake import NoOpExporter

ROUNDS = 2  # intake: a server started per side and round
LOOP_ROUNDS = 5  # the command loop: about a second a round
TARGET = 0.95  # at most 5 % slower


def row(name: str, unit: str, on: float, off: float) -> dict[str, Any]:
    return {
        "name": name,
        "unit": unit,
        "ours": on,
        "baseline": off,
        "baseline_name": "tracing off (OTEL_SDK_DISABLED=true), same run",
        "ratio": on / off,
        "target": ">= 0.95x",
        "met": on / off >= TARGET,
    }


async def intake_rates(
    root: Path, nats_url: str, database_url: str, scale: float
) -> dict[str, Any]:
    """Requests/s of POST /v1/cases, 32 concurrent clients, tracing off and on."""
    env, key_file = intake.service_env(root, nats_url, database_url)
    sides = {
        "off": (["--factory", "sexto_intake.bootstrap:create_app"],
                {**env, "OTEL_SDK_DISABLED": "true"}),
        "on": (["--factory", "bench.traced_intake:create_app"], env),
    }  # fmt: skip
    best = {"off": 0.0, "on": 0.0}
    token = mint(ensure_key(key_file), role=Role.INTERVENER, subject="iv-demo-1",
                 school="ecole-des-erables", ttl_s=3600)  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    total = int(640 * scale)
    for rnd in range(ROUNDS):
        order = list(sides.items())
        for side, (target, side_env) in order if rnd % 2 == 0 else order[::-1]:
            proc, url = intake.start_server(target, side_env, root / f"tracing-{side}.log")
            try:
                await intake.wait_ready(url)
                if rnd == 0 and side == "off":
                    await intake.seed(url, key_file)
                await intake.saturate(url, auth, 8, 64)  # warm-up
                best[side] = max(best[side], await intake.saturate(url, auth, 32, total))
            finally:
                stop(proc)
    return row("POST /v1/cases, 32 clients, tracing on (no-op exporter)", "requests/s",
               best["on"], best["off"])  # fmt: skip


async def command_loop_rates(
    untraced: EventStore, traced: EventStore, commands: int
) -> dict[str, Any]:
    """Commands/s of the command loop (load + append one event), tracing off and on."""
    best = {"off": 0.0, "on": 0.0}
    sides = [("off", untraced), ("on", traced)]
    for rnd in range(LOOP_ROUNDS):
        for side, store in sides if rnd % 2 == 0 else sides[::-1]:
            best[side] = max(best[side], await peer.store_rate(store, commands, personal=False))
    return row("command loop: load + append one event, tracing on (no-op exporter)",
               "commands/s", best["on"], best["off"])  # fmt: skip


def stores(
    nc: Client, codec: PersonalDataCodec | None
) -> tuple[EventStore, EventStore, TracerProvider]:
    """Two stores on one connection: one without tracing, one whose spans go to a no-op
    exporter through a service's batch processor (as a service's would go to OTLP)."""
    provider = TracerProvider()
    provider.add_span_processor(batch_processor(NoOpExporter()))
    untraced = EventStore(nc, source="sexto/bench", codec=codec, tracer=NoOpTracer())
    traced = EventStore(nc, source="sexto/bench", codec=codec, tracer=provider.get_tracer("bench"))
    return untraced, traced, provider
