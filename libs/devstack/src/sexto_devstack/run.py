"""`make run`: NATS, PostgreSQL and the four services on one machine, stopped together.

Ports and folders come from the environment (the Makefile passes its variables):
NATS_PORT, PG_PORT, INTAKE_PORT, EVALUATION_PORT, ESCALATION_PORT, NOTIFICATION_PORT,
SEXTO_DATA_DIR; DATABASE_URL to use a PostgreSQL of your own instead of the embedded one.
Once everything is ready, `<SEXTO_DATA_DIR>/stack.json` says where the servers are (the
`sexto` command line reads it); it is removed when the supervisor stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
from sexto_service.auth.issuer import ensure_key

from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import environ, port_free, spawn, stop
from sexto_devstack.seed import seed_directory
from sexto_devstack.stackfile import StackDescription, remove_stack_file, write_stack_file
from sexto_devstack.transparency import start_transparency, transparency_env

SERVICES = ("intake", "evaluation", "escalation", "notification")
DEFAULT_PORTS = {
    "NATS_PORT": 14222,
    "PG_PORT": 15432,
    "INTAKE_PORT": 8001,
    "EVALUATION_PORT": 8002,
    "ESCALATION_PORT": 8003,
    "NOTIFICATION_PORT": 8004,
}
READY_TIMEOUT_S = 60.0


class Shutdown(Exception):
    """Raised by the signal handler to unwind and stop everything."""


@dataclass(frozen=True)
class Plan:
    """What to start where."""

    data_dir: Path
    ports: dict[str, int]
    database_url: str | None


def plan_from_env() -> Plan:
    """Read ports and folders from the environment."""
    ports = {}
    for name, default in DEFAULT_PORTS.items():
        raw = os.environ.get(name) or str(default)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            sys.exit(f"{name}={raw!r} is not a port number (1-65535)")
        ports[name] = int(raw)
    return Plan(
        data_dir=Path(os.environ.get("SEXTO_DATA_DIR") or ".data").resolve(),
        ports=ports,
        database_url=os.environ.get("DATABASE_URL") or None,
    )


def check_ports(plan: Plan) -> None:
    """Refuse to start if a port is taken, naming it and how to choose another."""
    wanted = dict(plan.ports)
    if plan.database_url:
        wanted.pop("PG_PORT")
    taken = [(name, port) for name, port in wanted.items() if not port_free(port)]
    if taken:
        lines = [f"  port {port} ({name}) is already in use" for name, port in taken]
        hint = " ".join(f"{name}={port + 100}" for name, port in taken)
        sys.exit(
            "cannot start:\n" + "\n".join(lines) + f"\nchoose other ports, e.g. `make run {hint}`"
        )


def wait_ready(urls: dict[str, str], procs: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    """Poll every /readyz until all answer 200."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = dict(urls)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, url in list(pending.items()):
                if procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited during start-up; see {logs / name}.log")
                try:
                    if client.get(f"{url}/readyz").status_code == 200:
                        pending.pop(name)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {READY_TIMEOUT_S:.0f}s: {', '.join(pending)}")
            time.sleep(0.2)


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def start_services(
    plan: Plan, env: dict[str, str], logs: Path, services: dict[str, subprocess.Popen[bytes]]
) -> dict[str, str]:
    """Spawn every service (each added to `services` as soon as it runs); their URLs."""
    urls = {}
    for name in SERVICES:
        port = plan.ports[f"{name.upper()}_PORT"]
        services[name] = spawn(
            [sys.executable, "-m", "uvicorn", "--factory", f"sexto_{name}.bootstrap:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            log=logs / f"{name}.log",
            env=env,
        )  # fmt: skip
        urls[name] = f"http://127.0.0.1:{port}"
    # The transparency log: its witness and its tree process, supervised as services.
    start_transparency({**env, **transparency_env(plan.data_dir)}, logs, services)
    return urls


def main() -> None:
    """Start everything, wait for Ctrl-C or SIGTERM, stop everything."""
    plan = plan_from_env()
    check_ports(plan)
    signal.signal(signal.SIGINT, _raise_shutdown)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    logs = plan.data_dir / "logs"
    nats = NatsServer(plan.ports["NATS_PORT"], plan.data_dir / "nats")
    postgres = (
        None
        if plan.database_url
        else EmbeddedPostgres(plan.ports["PG_PORT"], plan.data_dir / "postgres" / "data")
    )
    services: dict[str, subprocess.Popen[bytes]] = {}
    try:
        print(f"data under {plan.data_dir}; logs under {logs}", flush=True)
        nats.start()
        print(f"nats-server    {nats.url} (JetStream, sync_interval: always)", flush=True)
        if postgres is not None:
            postgres.start()
            print(f"postgresql     {postgres.dsn}", flush=True)
        database_url = plan.database_url or (postgres.dsn if postgres else "")
        issuer_key = plan.data_dir / "issuer" / "ed25519.pem"
        ensure_key(issuer_key)  # the local token issuer: `make token ROLE=... SCOPE=...`
        env = environ(
            SEXTO_NATS_URL=nats.url,
            SEXTO_DATABASE_URL=database_url,
            SEXTO_AUTH_LOCAL_KEY_FILE=str(issuer_key),
            # E-mail goes to a folder (no SMTP server on a laptop); webhooks may go to
            # http://127.0.0.1 receivers such as deploy/examples/webhook_receiver.py.
            SEXTO_NOTIFICATION_MAIL_DIR=os.environ.get("SEXTO_NOTIFICATION_MAIL_DIR")
            or str(plan.data_dir / "mail"),
            SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS=os.environ.get(
                "SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS", "true"
            ),
        )
        urls = start_services(plan, env, logs, services)
        wait_ready(urls, services, logs)
        added = seed_directory(
            urls["intake"],
            Path(__file__).resolve().parents[4] / "deploy" / "seed" / "directory.json",
            issuer_key,
            plan.data_dir / "directory-seeded",
        )
        if added:
            print(f"directory: {added} fictional entries seeded from deploy/seed/", flush=True)
        for name, url in urls.items():
            print(f"{name:<14} {url}   docs: {url}/docs   openapi: {url}/openapi.json")
        print(f"e-mail         written to {env['SEXTO_NOTIFICATION_MAIL_DIR']}", flush=True)
        described = write_stack_file(
            StackDescription(plan.data_dir, nats.url, database_url, issuer_key, urls)
        )
        print(f"stack          described in {described} (read by .venv/bin/sexto)", flush=True)
        print("all services ready; Ctrl-C stops everything", flush=True)
        while True:
            for name, proc in services.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} stopped unexpectedly; see {logs / name}.log")
            time.sleep(0.5)
    except Shutdown as why:
        print(f"\n{why}: stopping", flush=True)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        remove_stack_file(plan.data_dir)  # first: nothing is to be found here any more
        for proc in services.values():
            stop(proc)
        nats.stop()
        if postgres is not None:
            postgres.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
