"""`make run`: NATS, PostgreSQL and the four services on one machine, kept up, stopped together.

Ports and folders come from the environment (the Makefile passes its variables):
NATS_PORT, PG_PORT, INTAKE_PORT, EVALUATION_PORT, ESCALATION_PORT, NOTIFICATION_PORT,
SEXTO_DATA_DIR; DATABASE_URL to use a PostgreSQL of your own instead of the embedded one.
`--cluster` (`make run-cluster`) runs a 3-node NATS cluster on free loopback ports instead
of one server, with every stream replicated three times; `--instances N` runs N instances
of each service (the n-th on its port + 100 * (n - 1)), sharing their durable consumers.
A service that dies is restarted by the supervisor (with backoff, logged, counted); the
stack stops on Ctrl-C, SIGTERM, or when a service keeps failing.
Once everything is ready, `<SEXTO_DATA_DIR>/stack.json` says where the servers are (the
`sexto` command line reads it); it is removed when the supervisor stops.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
from sexto_service.auth.issuer import ensure_key

from sexto_devstack.accounts import User, accounts_config
from sexto_devstack.nats_cluster import NatsCluster
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import environ, port_free, spawn
from sexto_devstack.seed import seed_directory
from sexto_devstack.stackfile import StackDescription, remove_stack_file, write_stack_file
from sexto_devstack.supervisor import Supervisor
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
INSTANCE_PORT_STEP = 100
READY_TIMEOUT_S = 60.0
ROOT = Path(__file__).resolve().parents[4]
DIRECTORY = ROOT / "deploy" / "seed" / "directory.json"


class Shutdown(Exception):
    """Raised by the signal handler to unwind and stop everything."""


@dataclass(frozen=True)
class Plan:
    """What to start where."""

    data_dir: Path
    ports: dict[str, int]
    database_url: str | None
    cluster: bool = False
    instances: int = 1

    def service_ports(self) -> dict[str, int]:
        """Every service instance's port, by instance name (`intake`, `intake-2`, ...)."""
        ports = {}
        for name in SERVICES:
            for n in range(1, self.instances + 1):
                port = self.ports[f"{name.upper()}_PORT"] + INSTANCE_PORT_STEP * (n - 1)
                ports[instance_name(name, n)] = port
        return ports


def instance_name(service: str, n: int) -> str:
    """The first instance keeps the service's name; the others are numbered."""
    return service if n == 1 else f"{service}-{n}"


def plan_from_env(argv: list[str] | None = None) -> Plan:
    """Read ports and folders from the environment, the cluster and instances from argv."""
    parser = argparse.ArgumentParser(prog="sexto-devstack")
    parser.add_argument("--cluster", action="store_true", help="3 NATS nodes, R3 streams")
    parser.add_argument("--instances", type=int, default=1, choices=range(1, 10))
    args = parser.parse_args(argv)
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
        cluster=args.cluster,
        instances=args.instances,
    )


def check_ports(plan: Plan) -> None:
    """Refuse to start if a port is taken, naming it and how to choose another."""
    wanted = {name: port for name, port in plan.ports.items() if name.endswith("_PORT")}
    if plan.database_url:
        wanted.pop("PG_PORT")
    if plan.cluster:
        wanted.pop("NATS_PORT")  # the cluster's nodes take free ports
    for instance, port in plan.service_ports().items():
        wanted.setdefault(f"{instance.upper()}_PORT", port)
    taken = [(name, port) for name, port in wanted.items() if not port_free(port)]
    if taken:
        lines = [f"  port {port} ({name}) is already in use" for name, port in taken]
        hint = " ".join(f"{name}={port + 1000}" for name, port in taken if "-" not in name)
        sys.exit(
            "cannot start:\n" + "\n".join(lines) + f"\nchoose other ports, e.g. `make run {hint}`"
        )


def wait_ready(urls: dict[str, str], supervisor: Supervisor, logs: Path) -> None:
    """Poll every /readyz until all answer 200."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = dict(urls)
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, url in list(pending.items()):
                proc = supervisor.process(name)
                if proc is None or proc.poll() is not None:
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


def service_starter(
    service: str, instance: str, port: int, env: dict[str, str], logs: Path
) -> Callable[[], subprocess.Popen[bytes]]:
    """How the supervisor starts (and restarts) one instance of a service."""

    def start() -> subprocess.Popen[bytes]:
        return spawn(
            [sys.executable, "-m", "uvicorn", "--factory",
             f"sexto_{service}.bootstrap:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            log=logs / f"{instance}.log",
            env=env,
        )  # fmt: skip

    return start


@dataclass
class Stack:
    """The servers and services of a plan: started in order, kept up, stopped in reverse."""

    plan: Plan
    supervisor: Supervisor = field(default_factory=Supervisor)
    nats: NatsServer | NatsCluster | None = None
    postgres: EmbeddedPostgres | None = None
    env: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    # The cluster runs with the accounts of deploy/nats (generated from the seeded
    # directory), each user with a fresh random password: every service connects as itself.
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        """Where every process writes its log."""
        return self.plan.data_dir / "logs"

    @property
    def issuer_key(self) -> Path:
        """The local token issuer's key (`make token ROLE=... SCOPE=...`)."""
        return self.plan.data_dir / "issuer" / "ed25519.pem"

    def start_servers(self) -> None:
        """NATS (one server or a cluster) and PostgreSQL, unless DATABASE_URL is given."""
        plan = self.plan
        if plan.cluster:
            directory = json.loads(DIRECTORY.read_text(encoding="utf-8"))
            accounts = accounts_config(directory, self._password)
            self.nats = NatsCluster.on_free_ports(
                plan.data_dir / "nats-cluster", extra_config=accounts
            ).start()
            print(
                f"nats cluster   {self.nats.url} (3 nodes, R3, sync_interval: always, "
                "accounts per service and territory)"
            )
        else:
            self.nats = NatsServer(plan.ports["NATS_PORT"], plan.data_dir / "nats").start()
            print(f"nats-server    {self.nats.url} (JetStream, sync_interval: always)")
        if plan.database_url is None:
            data = plan.data_dir / "postgres" / "data"
            self.postgres = EmbeddedPostgres(plan.ports["PG_PORT"], data).start()
            print(f"postgresql     {self.postgres.dsn}", flush=True)
        ensure_key(self.issuer_key)
        cluster = isinstance(self.nats, NatsCluster)
        self.env = environ(
            SEXTO_NATS_URL=self.nats.url,
            SEXTO_STREAM_REPLICAS="3" if cluster else "1",
            SEXTO_NATS_MONITOR_URLS=",".join(self.nats.monitor_urls),
            SEXTO_DATABASE_URL=self.database_url,
            SEXTO_AUTH_LOCAL_KEY_FILE=str(self.issuer_key),
            # E-mail goes to a folder (no SMTP server on a laptop); webhooks may go to
            # http://127.0.0.1 receivers such as deploy/examples/webhook_receiver.py.
            SEXTO_NOTIFICATION_MAIL_DIR=os.environ.get("SEXTO_NOTIFICATION_MAIL_DIR")
            or str(plan.data_dir / "mail"),
            SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS=os.environ.get(
                "SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS", "true"
            ),
        )

    def _password(self, user: User) -> str:
        self.passwords[user.name] = secrets.token_urlsafe(18)
        return json.dumps(self.passwords[user.name])

    def nats_url_for(self, user: str) -> str:
        """The servers' URL with a user's credentials (no credentials without accounts)."""
        assert self.nats is not None
        if user not in self.passwords:
            return self.nats.url
        secret = self.passwords[user]
        return ",".join(u.replace("nats://", f"nats://{user}:{secret}@") for u in
                        self.nats.url.split(","))  # fmt: skip

    @property
    def database_url(self) -> str:
        """The application database's connection string."""
        return self.plan.database_url or (self.postgres.dsn if self.postgres else "")

    def start_services(self) -> None:
        """Every service's first instance, then the others once the first is ready (so
        the migrations of a schema run once at a time)."""
        ports = self.plan.service_ports()
        for n in range(1, self.plan.instances + 1):
            started = {}
            for service in SERVICES:
                name = instance_name(service, n)
                env = {**self.env, "SEXTO_NATS_URL": self.nats_url_for(service)}
                self.supervisor.add(
                    name, service_starter(service, name, ports[name], env, self.logs)
                )
                started[name] = f"http://127.0.0.1:{ports[name]}"
            wait_ready(started, self.supervisor, self.logs)
            self.urls.update(started)
        # The transparency log: its witness and its tree process, supervised like services.
        start_transparency(
            {**self.env, **transparency_env(self.plan.data_dir)},
            self.logs,
            self.supervisor,
            nats_url=self.nats_url_for("tlog"),
            witness_nats_url=self.nats_url_for("witness"),
        )

    def stop(self) -> None:
        """Stop the services, then the servers."""
        self.supervisor.stop_all()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def main() -> None:
    """Start everything, keep it up until Ctrl-C or SIGTERM, stop everything."""
    plan = plan_from_env()
    check_ports(plan)
    signal.signal(signal.SIGINT, _raise_shutdown)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    stack = Stack(plan)
    try:
        print(f"data under {plan.data_dir}; logs under {stack.logs}", flush=True)
        stack.start_servers()
        stack.start_services()
        added = seed_directory(
            stack.urls["intake"],
            DIRECTORY,
            stack.issuer_key,
            plan.data_dir / "directory-seeded",
        )
        if added:
            print(f"directory: {added} fictional entries seeded from deploy/seed/", flush=True)
        for name, url in stack.urls.items():
            print(f"{name:<14} {url}   docs: {url}/docs   openapi: {url}/openapi.json")
        print(f"e-mail         written to {stack.env['SEXTO_NOTIFICATION_MAIL_DIR']}", flush=True)
        assert stack.nats is not None
        described = write_stack_file(
            StackDescription(
                plan.data_dir,
                # The command line's legal tooling connects as the operator.
                stack.nats_url_for("operator"),
                stack.database_url,
                stack.issuer_key,
                stack.urls,
            )
        )
        print(f"stack          described in {described} (read by .venv/bin/sexto)", flush=True)
        print("all services ready; Ctrl-C stops everything", flush=True)
        while True:
            stack.supervisor.check()
            time.sleep(0.5)
    except Shutdown as why:
        print(f"\n{why}: stopping", flush=True)
    except (RuntimeError, TimeoutError) as exc:  # KeepsFailing included
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        remove_stack_file(plan.data_dir)  # first: nothing is to be found here any more
        stack.stop()
        restarted = {name: n for name, n in stack.supervisor.restarts().items() if n}
        if restarted:
            print("restarts: " + ", ".join(f"{k} {v}" for k, v in restarted.items()))
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
