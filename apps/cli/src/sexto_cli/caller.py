"""Who is calling: always a verified token, checked exactly as the services check bearer
tokens (SEXTO_AUTH_* settings).

`--role` is a development shortcut: it mints a token with the local issuer of `make run`
and verifies it like any other, and is refused in production, where only tokens from the
identity provider are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sexto_events.principal import SCHOOL_ROLES, Principal, Role
from sexto_events.settings import EventLogSettings
from sexto_service.auth.issuer import mint
from sexto_service.auth.tokens import AuthSettings, InvalidToken, TokenVerifier

from sexto_cli.failures import CliError


@dataclass(frozen=True)
class Credentials:
    """What the caller passed to prove who they are."""

    token: str | None = None
    role: str | None = None
    actor: str | None = None
    scope: str | None = None  # the school or territory of the role, with --role


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
        subject=credentials.actor or f"{role.value}-cli",
        school=credentials.scope if role in SCHOOL_ROLES else None,
        territory=credentials.scope if role not in SCHOOL_ROLES else None,
        issuer=auth.issuer,
        audience=auth.audience,
        ttl_s=600,
    )
