"""The connections a command needs, opened for a verified caller whose role is allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client
from sexto_events.disclosure import Viewer
from sexto_events.migrate import migrate_keys
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.principal import Principal
from sexto_events.settings import EventLogSettings
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

from sexto_cli.caller import Credentials, authenticate
from sexto_cli.connect import connect_nats, connect_postgres
from sexto_cli.settings import load_settings

SOURCE = "sexto/legal"


@dataclass
class Session:
    """Live connections for one command."""

    settings: EventLogSettings
    principal: Principal
    nc: Client
    pool: asyncpg.Pool
    vault: KeyVault
    store: EventStore

    @property
    def spec(self) -> StreamSpec:
        """The CASES stream's spec."""
        return self.store.spec

    def viewer(self) -> Viewer:
        """The caller as a reader of case data: its role's row of the disclosure policy, and
        analysts' keyed pseudonyms under the analysis key (the same as the services')."""
        return Viewer.of(self.principal, self.settings.pseudonymiser())


@asynccontextmanager
async def open_session(
    credentials: Credentials,
    settings: EventLogSettings | None = None,
    *,
    allowed: Callable[[Principal], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> AsyncIterator[Session]:
    """Authenticate, check the role with `allowed` (raises when refused) before touching
    anything, then connect to NATS and PostgreSQL; close everything at the end. A server
    that cannot be reached is a CliError of one sentence; later NATS errors go to `warn`."""
    config = load_settings(settings)
    principal = await authenticate(credentials, config.log, config.auth)
    if allowed is not None:
        allowed(principal)  # a refused role connects to nothing, migrates nothing
    nc = await connect_nats(config.nats, warn)
    try:
        pool = await connect_postgres(config.database)
    except BaseException:
        await nc.close()
        raise
    log = config.log
    vault = KeyVault(pool, log.master_key_bytes(), lease_seconds=log.key_lease_s)
    spec = StreamSpec(log.stream_name, log.subject_root, log.stream_replicas)
    store = EventStore(nc, source=SOURCE, codec=PersonalDataCodec(vault), spec=spec)
    try:
        await migrate_keys(log.database_url)
        yield Session(log, principal, nc, pool, vault, store)
    finally:
        await store.close()
        await nc.close()
        await pool.close()
