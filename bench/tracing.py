"""What tracing costs: intake's POST /v1/cases and the command loop with tracing on (every
span recorded and handed to a no-op exporter through a service's batch processor) beside
tracing off (OTEL_SDK_DISABLED=true: the instrumentations in place, no span made), same run.

The two sides alternate round by round (off then on, on then off, ...) and the table shows
each side's median, so a neighbour's burst on a shared machine, or going first, favours
neither. Beside each rate, the CPU time each side spent per request or command: what a
busy machine disturbs least.
"""

from __future__ import annotations

import time
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
from sexto_service.runtime import freeze_start_up
from sexto_service.telemetry import batch_processor

from bench import intake, peer
from bench.rows import ROUNDS, cpu_seconds, median, row
from bench.traced_intake import NoOpExporter

# The command loop: 9 rounds of 1,000 commands a side at any scale (about a second each).
# Rounds of 300 (the scale of 0.3) swung by 10 % and more between two runs of one code.
LOOP_ROUNDS = max(ROUNDS, 9)
LOOP_COMMANDS = 1000
TARGET = 0.95  # at most 5 % slower
OFF = "tracing off (OTEL_SDK_DISABLED=true), same run"

Sides = dict[str, list[tuple[float, float]]]
"""Per side, each round's (rate, CPU seconds per request or command)."""


def rows(what: str, unit: str, per: str, sides: Sides) -> list[dict[str, Any]]:
    """The rate row (the issue's target) and the CPU row of one figure."""
    rate = {side: median([r for r, _ in rounds]) for side, rounds in sides.items()}
    cpu = {side: median([c for _, c in rounds]) * 1e6 for side, rounds in sides.items()}
    rounds = len(sides["on"])
    return [
        row(f"{what}, tracing on (no-op exporter)", unit, rate["on"], rate["off"],
            f"{OFF} (median of {rounds} alternating rounds each)", at_least=TARGET),
        row(f"{what}, tracing on: CPU per {per}", f"µs CPU/{per}", cpu["on"], cpu["off"],
            f"{OFF} (median of {rounds} alternating rounds each)", lower_is_better=True),
    ]  # fmt: skip


def alternating(rnd: int, sides: list[str]) -> list[str]:
    """Off then on in even rounds, on then off in odd ones."""
    return sides if rnd % 2 == 0 else sides[::-1]


async def intake_rates(
    root: Path, nats_url: str, database_url: str, scale: float
) -> list[dict[str, Any]]:
    """Requests/s of POST /v1/cases, 32 concurrent clients, tracing off and on; and the
    server process's CPU time per request."""
    env, key_file = intake.service_env(root, nats_url, database_url)
    targets = {
        "off": (["--factory", "sexto_intake.bootstrap:create_app"],
                {**env, "OTEL_SDK_DISABLED": "true"}),
        "on": (["--factory", "bench.traced_intake:create_app"], env),
    }  # fmt: skip
    sides: Sides = {"off": [], "on": []}
    token = mint(ensure_key(key_file), role=Role.INTERVENER, subject="iv-demo-1",
                 school="ecole-des-erables", ttl_s=3600)  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    total = int(640 * scale)
    for rnd in range(ROUNDS):
        for side in alternating(rnd, list(targets)):
            target, side_env = targets[side]
            proc, url = intake.start_server(target, side_env, root / f"tracing-{side}.log")
            try:
                await intake.wait_ready(url)
                if rnd == 0 and side == "off":
                    await intake.seed(url, key_file)
                await intake.saturate(url, auth, 8, 64)  # warm-up
                before = cpu_seconds(proc.pid)
                rate = await intake.saturate(url, auth, 32, total)
                sides[side].append((rate, (cpu_seconds(proc.pid) - before) / total))
            finally:
                stop(proc)
    return rows("POST /v1/cases, 32 clients", "requests/s", "request", sides)


async def command_loop_rates(
    untraced: EventStore, traced: EventStore, commands: int = LOOP_COMMANDS
) -> list[dict[str, Any]]:
    """Commands/s of the command loop (load + append one event), tracing off and on; and
    this process's CPU time per command (the span processor's thread included)."""
    # This process's heap, like a service's once started: out of the full collections.
    freeze_start_up()
    stores = {"off": untraced, "on": traced}
    sides: Sides = {"off": [], "on": []}
    for rnd in range(LOOP_ROUNDS):
        for side in alternating(rnd, list(stores)):
            before = time.process_time()
            rate = await peer.store_rate(stores[side], commands, personal=False)
            sides[side].append((rate, (time.process_time() - before) / commands))
    return rows("command loop: load + append one event", "commands/s", "command", sides)


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
