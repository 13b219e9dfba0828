"""Who is calling and the connections a command needs, from the services' own settings.

The caller is always a verified token, checked exactly as the services check bearer
tokens (SEXTO_AUTH_* settings). `--role` is a development shortcut: it mints a token with
the local issuer of `make run` and verifies it like any other, and is refused in
production, where only tokens from the identity provider are accepted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.aio.client import Client
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sexto_events.connection import connect
from sexto_events.db import create_pool
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.principal import Principal, Role
from sexto_events.settings import EventLogSettings
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec
from sexto_legal.pseudonyms import Pseudonymiser
from sexto_service.auth.issuer import mint
from sexto_service.auth.tokens import AuthSettings, InvalidToken, TokenVerifier

SOURCE = "sexto/legal"


class CliError(Exception):
    """A refusal or a usage problem, printed as one line; the message says what to do."""


@contextmanager
def settings_checked() -> Iterator[None]:
    """Settings that do not validate, as a CliError naming the variables to fix."""
    try:
        yield
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors(include_input=False)
        )
        raise CliError(f"error in the settings ({exc.title}): {problems}") from None
    except SettingsError as exc:  # a value that is not even JSON where JSON is expected
        raise CliError(f"error in the settings: {exc} (it must be JSON)") from None


@dataclass(frozen=True)
class Credentials:
    """What the caller passed to prove who they are."""

    token: str | None = None
    role: str | None = None
    subject: str | None = None


async def authenticate(
    credentials: Credentials, settings: EventLogSettings, auth: AuthSettings
) -> Principal:
    """The verified caller."""
    token = credentials.token
    if token is None and credentials.role is not None:
        token = _development_token(credentials, settings, auth)
    if token is None:
        raise CliError(
            "who are you? pass --token (or set SEXTO_TOKEN) with a bearer token of your role; "
            "in development, --role ROLE uses the local issuer instead"
        )
    try:
        verifier = TokenVerifier(auth)
        return await verifier.verify(token)
    except (InvalidToken, ValueError) as exc:
        raise CliError(f"the token was refused: {exc}") from None


def _development_token(
    credentials: Credentials, settings: EventLogSettings, auth: AuthSettings
) -> str:
    if settings.environment == "production":
        raise CliError("--role is refused in production: pass a token from the identity provider")
    path = auth.local_key_file
    if path is None or not path.is_file():
        raise CliError(
            "--role needs the local issuer's key: set SEXTO_AUTH_LOCAL_KEY_FILE "
            "(`make run` creates .data/issuer/ed25519.pem)"
        )
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CliError(f"{path} is not the local issuer's Ed25519 key")
    try:
        role = Role(str(credentials.role))
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise CliError(f"unknown role {credentials.role!r}: one of {roles}") from None
    return mint(
        key,
        role=role,
        subject=credentials.subject or f"{role.value}-cli",
        issuer=auth.issuer,
        audience=auth.audience,
        ttl_s=600,
    )


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

    def pseudonyms(self) -> Pseudonymiser:
        """Analysts' keyed pseudonyms (stable for a master key)."""
        return Pseudonymiser.from_master_key(self.settings.master_key_bytes())


@asynccontextmanager
async def open_session(
    credentials: Credentials,
    settings: EventLogSettings | None = None,
    *,
    allowed: Callable[[Principal], None] | None = None,
) -> AsyncIterator[Session]:
    """Authenticate, check the role with `allowed` (raises when refused) before touching
    anything, then connect to NATS and PostgreSQL; close everything at the end."""
    with settings_checked():
        settings = settings or EventLogSettings()
        auth = AuthSettings()
    principal = await authenticate(credentials, settings, auth)
    if allowed is not None:
        allowed(principal)  # a refused role connects to nothing, migrates nothing
    try:
        nc = await connect(settings.nats_url, name="sexto-cli", max_reconnect_attempts=3)
    except Exception as exc:
        raise CliError(f"cannot reach NATS at {settings.nats_url}: {exc}") from None
    try:
        pool = await create_pool(settings.database_url)
    except Exception as exc:
        await nc.close()
        raise CliError(f"cannot reach PostgreSQL (SEXTO_DATABASE_URL): {exc}") from None
    vault = KeyVault(pool, settings.master_key_bytes())
    spec = StreamSpec(settings.stream_name, settings.subject_root, settings.stream_replicas)
    store = EventStore(nc, source=SOURCE, codec=PersonalDataCodec(vault), spec=spec)
    try:
        await vault.migrate()
        yield Session(settings, principal, nc, pool, vault, store)
    finally:
        await store.close()
        await nc.close()
        await pool.close()
