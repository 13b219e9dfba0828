"""Real servers for the suite: nats-server and PostgreSQL on free ports, never the defaults."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import environ, free_port
from sexto_devstack.supervisor import Supervisor
from sexto_devstack.transparency import start_transparency, transparency_env
from sexto_events.connection import connect
from sexto_events.db import create_pool
from sexto_events.migrate import migrate_keys
from sexto_events.model import CaseRef
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec
from sexto_service.auth.issuer import ensure_key

MASTER_KEY = bytes(range(32))
# The shred-epoch lease of every vault of the suite, in this process and (through the
# environment) every service and command it starts: each shred waits it, and a lease must be
# the same everywhere. Short, as many tests shred; one test runs the default.
LEASE_S = float(os.environ.setdefault("SEXTO_KEY_LEASE_S", "0.05"))

# The intake service and its seeded directory, shared by the intake and evaluation tests.
pytest_plugins = ["tests.support.world", "tests.support.transparency"]


@pytest.fixture(scope="session")
def servers_dir() -> Path:
    # World-traversable: PostgreSQL runs as an unprivileged user when the suite runs as root.
    path = Path(tempfile.mkdtemp(prefix="sexto-tests-"))
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="session")
def issuer_key_file(servers_dir: Path) -> Path:
    """The local token issuer's key, as `make run` creates it."""
    path = servers_dir / "issuer" / "ed25519.pem"
    ensure_key(path)
    return path


@pytest.fixture(scope="session")
def nats_server(servers_dir: Path) -> Iterator[NatsServer]:
    server = NatsServer(free_port(), servers_dir / "nats").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(servers_dir: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(free_port(), servers_dir / "pg" / "data", durable=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def transparency_stack(
    nats_server: NatsServer, postgres: EmbeddedPostgres, servers_dir: Path
) -> Iterator[dict[str, str]]:
    """The transparency log's witness and tree process over the suite's CASES stream, as
    `make run` starts them (exports and `sexto verify --case` need them)."""
    env = environ(
        SEXTO_NATS_URL=nats_server.url,
        SEXTO_DATABASE_URL=postgres.dsn,
        SEXTO_TLOG_CHECKPOINT_INTERVAL_S="1",
        **transparency_env(servers_dir / "tlog-stack"),
    )
    supervisor = Supervisor()  # not checked: a process that dies stays dead, and tests fail
    try:
        start_transparency(env, servers_dir / "logs", supervisor)
        yield env
    finally:
        supervisor.stop_all()


@pytest.fixture(scope="session")
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect(nats_server.url, name="sexto-tests")
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def pool(postgres: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(postgres.dsn, max_size=20)
    yield created
    await created.close()


@pytest.fixture(scope="session")
async def vault(pool: asyncpg.Pool, postgres: EmbeddedPostgres) -> KeyVault:
    await migrate_keys(postgres.dsn)
    return KeyVault(pool, MASTER_KEY, lease_seconds=LEASE_S)


@pytest.fixture
async def longer_leases_forgotten(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """For a test whose vaults take a longer lease than the suite's: the key database keeps
    the longest lease any vault took, and every later shred of the suite would wait it."""
    yield
    await pool.execute("UPDATE sexto_keys.shred_epoch SET longest_lease_s = $1", LEASE_S)


@pytest.fixture(scope="session")
async def store(nc: Client, vault: KeyVault) -> AsyncIterator[EventStore]:
    event_store = EventStore(nc, source="sexto/tests", codec=PersonalDataCodec(vault))
    await event_store.ensure_stream()
    yield event_store
    await event_store.close()


@pytest.fixture
def new_case() -> Callable[[], CaseRef]:
    """A fresh case in a fresh territory, so tests sharing the stream never meet."""

    def make() -> CaseRef:
        return CaseRef(f"t{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)

    return make


@pytest.fixture
async def side_store(nc: Client, vault: KeyVault) -> AsyncIterator[EventStore]:
    """A store on a stream of its own (for tampering, which the real log forbids)."""
    token = uuid.uuid4().hex[:8]
    spec = StreamSpec(name=f"TEST_{token}", subject_root=f"test{token}")
    event_store = EventStore(nc, source="sexto/tests", codec=PersonalDataCodec(vault), spec=spec)
    await event_store.ensure_stream()
    yield event_store
    await event_store.close()
