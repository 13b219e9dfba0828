"""`make chaos`: about 1,000 incidents at about 20 a second through the public REST API of
`make run-cluster`'s stack (3 NATS nodes, R3, two instances of each service), while faults
strike one at a time; then the checks. Loopback only, bounded, stops by itself.

    make chaos                                   # 1000 incidents at 20/s
    CHAOS_INCIDENTS=200 CHAOS_RATE=10 make chaos # smaller
    CHAOS_FAULT_INTERVAL_S=3 CHAOS_SEED=7        # a fault every ~3 s; a reproducible draw

Ends with one line, `chaos: N sent, A accepted, lost L, duplicated D, kills K (...),
converged in S s`, and exits non-zero when anything was lost, done twice, left a chain
unverifiable or a read model unlike its rebuild. The details go to
<data>/chaos-report.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from sexto_devstack.procs import free_port
from sexto_devstack.run import DEFAULT_PORTS, DIRECTORY, Plan, Stack
from sexto_devstack.seed import seed_directory
from sexto_devstack.stackfile import StackDescription, write_stack_file
from sexto_devstack.supervisor import RestartPolicy, Supervisor
from sexto_events.connection import connect
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

from chaos.checks import Findings, check_log, check_read_models, converge, details, summary_of
from chaos.faults import Faults
from chaos.load import Load
from chaos.receiver import CountingReceiver

CONVERGE_LIMIT_S = 300.0


def number(name: str, default: float) -> float:
    """A positive number from the environment."""
    raw = os.environ.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        sys.exit(f"{name}={raw!r} is not a number")
    if value <= 0:
        sys.exit(f"{name}={raw!r} must be positive")
    return value


async def storm(stack: Stack, receiver: CountingReceiver) -> int:
    """Load and faults together, then convergence and the checks; the exit code."""
    incidents = int(number("CHAOS_INCIDENTS", 1000))
    rate = number("CHAOS_RATE", 20)
    rng = random.Random(int(number("CHAOS_SEED", time.time())))

    async def expected(_: Exception) -> None:
        return None  # nodes die on purpose here: the client's reconnects are no news

    nc = await connect(stack.nats_url_for("operator"), max_reconnect_attempts=-1, error_cb=expected)
    load = Load(stack.urls, stack.issuer_key, f"chaos-{int(time.time())}")
    await load.subscribe(receiver.url)
    faults = Faults(stack, nc, number("CHAOS_FAULT_INTERVAL_S", 2.5), rng)
    stop = asyncio.Event()

    async def keep_up() -> None:
        while not stop.is_set():
            stack.supervisor.check()
            await asyncio.sleep(0.3)

    keeper = asyncio.create_task(keep_up())
    injector = asyncio.create_task(faults.run(stop))
    print(f"chaos: sending {incidents} incidents at {rate:g}/s under faults", flush=True)
    began = time.monotonic()
    sent = await load.send(incidents, rate)
    loaded_in = time.monotonic() - began
    stop.set()
    await injector
    await keeper
    seconds = await converge(stack, nc, receiver, CONVERGE_LIMIT_S)
    found = Findings()
    store = EventStore(nc, source="sexto/chaos", spec=StreamSpec(replicas=3), timeout=10)
    await check_log(store, load.accepted, receiver, found)
    state = json.loads((await nc.request("$JS.API.STREAM.INFO.CASES", b"", 10)).data)["state"]
    await store.close()
    await load.close()
    await nc.close()
    await check_read_models(stack, found)
    report = stack.plan.data_dir / "chaos-report.json"
    report.write_text(json.dumps(
        {**details(found, load.accepted), "faults": dict(faults.done),
         "stream": {"messages": state["messages"], "bytes": state["bytes"]},
         "load_seconds": round(loaded_in, 1)}, indent=2))  # fmt: skip
    print(f"details in {report}", flush=True)
    print(summary_of(sent, load.accepted, faults.done, seconds, found), flush=True)
    return 1 if found.failed() or seconds is None else 0


def main() -> None:
    """Start the cluster stack in a fresh folder, storm it, check it, stop it."""
    data = Path(os.environ.get("CHAOS_DATA_DIR") or tempfile.mkdtemp(prefix="sexto-chaos-"))
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o755)  # PostgreSQL runs as an unprivileged user under root
    ports = {name: free_port() for name in DEFAULT_PORTS}
    # Webhook retries after a killed instance come within seconds, not the production hour.
    os.environ.setdefault("SEXTO_NOTIFICATION_BACKOFF_BASE_S", "0.5")
    os.environ.setdefault("SEXTO_NOTIFICATION_BACKOFF_CAP_S", "5")
    # Killed on purpose again and again: give up only on a service that cannot start at all.
    supervisor = Supervisor(RestartPolicy(max_failures=20, window_s=60))
    stack = Stack(Plan(data, ports, None, cluster=True, instances=2), supervisor)
    receiver = CountingReceiver().start()
    code = 1
    try:
        print(f"chaos: stack under {data}", flush=True)
        stack.start_servers()
        stack.start_services()
        seed_directory(stack.urls["intake"], DIRECTORY, stack.issuer_key, data / "seeded")
        assert stack.nats is not None
        operator = stack.nats_url_for("operator")
        write_stack_file(
            StackDescription(data, operator, stack.database_url, stack.issuer_key, stack.urls)
        )
        code = asyncio.run(storm(stack, receiver))
    finally:
        receiver.stop()
        stack.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
