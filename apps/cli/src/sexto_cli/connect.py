"""Connecting to NATS and PostgreSQL: a failure is one sentence naming what was tried, why
it failed and the variable to set; never a traceback, never a password."""

from __future__ import annotations

import asyncio
import errno
import re
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats.errors
from nats.aio.client import Client
from sexto_events.connection import connect
from sexto_events.db import create_pool

from sexto_cli.failures import CliError
from sexto_cli.stack import Address

# nats-py tries a server 1 + max_reconnect_attempts times, reconnect_time_wait (2 s) apart,
# each within connect_timeout (2 s); asyncpg would wait 60 s for an unanswered connection.
NATS_RECONNECT_ATTEMPTS = 3
POSTGRES_CONNECT_TIMEOUT_S = 15.0


class Unreachable(CliError):
    """A server could not be connected to; the message says which, why and what to set."""


_PASSWORD_PARAM = re.compile(r"((?:password|pass|token)=)[^&\s]*", re.IGNORECASE)
_TOKEN_SCHEMES = ("nats", "tls", "ws", "wss")  # nats://TOKEN@host: the user is a secret


def _userinfo(url: str) -> tuple[str, str, str, str] | None:
    """(scheme, user, password or "", host and the rest) of a URL with a user part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return None
    user, _, password = userinfo.partition(":")
    return parts.scheme, user, password, hostport


def redacted(url: str) -> str:
    """The URL with any password (and a NATS token, given as the user) replaced by ***."""
    found = _userinfo(url)
    if found is not None:
        scheme, user, password, hostport = found
        if password:
            user = f"{user}:***"
        elif scheme in _TOKEN_SCHEMES:
            user = "***"
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(netloc=f"{user}@{hostport}"))
    return _PASSWORD_PARAM.sub(r"\1***", url)


def _secrets(url: str) -> list[str]:
    found = [m.group(0).split("=", 1)[1] for m in _PASSWORD_PARAM.finditer(url)]
    info = _userinfo(url)
    if info is not None:
        scheme, user, password, _ = info
        found += [password, user if scheme in _TOKEN_SCHEMES and not password else ""]
    return [s for s in found if len(s) > 2]


def reason(exc: BaseException, url: str) -> str:
    """Why a connection failed, in a few words, with no secret of `url` in it."""
    if isinstance(exc, socket.gaierror):
        why = "unknown host"
    elif isinstance(exc, ConnectionRefusedError) or f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        why = "connection refused"
    elif isinstance(exc, TimeoutError):  # asyncio's, and nats-py's connect timeout
        why = "no answer in time"
    elif isinstance(exc, nats.errors.AuthorizationError):
        why = "authorization violation: missing or wrong credentials"
    elif isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        why = f"authentication refused: {exc}"
    elif isinstance(exc, OSError) and exc.strerror:
        why = exc.strerror
    else:
        why = str(exc).removeprefix("nats: ") or type(exc).__name__
    for secret in _secrets(url):
        why = why.replace(secret, "***")
    return " ".join(why.split()).rstrip(".")


def unreachable(server: str, address: Address, exc: BaseException) -> Unreachable:
    """The one sentence for a server that could not be connected to."""
    return Unreachable(
        f"could not connect to {server} at {redacted(address.url)} "
        f"({address.origin}; {reason(exc, address.url)}): {address.advice}"
    )


async def connect_nats(address: Address, warn: Callable[[str], None] | None = None) -> Client:
    """A NATS connection; errors after it is up (a reconnection failing) go to `warn`."""
    attempts: list[BaseException] = []
    connected = False

    async def on_error(exc: Exception) -> None:
        # nats-py's default logs every failed attempt with a traceback.
        if not connected:
            attempts[:] = [exc]
        elif warn is not None:
            warn(f"NATS at {redacted(address.url)}: {reason(exc, address.url)}")

    try:
        nc = await connect(
            address.url,
            name="sexto-cli",
            max_reconnect_attempts=NATS_RECONNECT_ATTEMPTS,
            error_cb=on_error,
        )
    except Exception as exc:
        cause = attempts[-1] if isinstance(exc, nats.errors.NoServersError) and attempts else exc
        raise unreachable("NATS", address, cause) from None
    connected = True
    return nc


async def connect_postgres(address: Address) -> asyncpg.Pool:
    """A PostgreSQL pool (its first connection made)."""
    try:
        async with asyncio.timeout(POSTGRES_CONNECT_TIMEOUT_S):
            return await create_pool(address.url)
    except Exception as exc:
        raise unreachable("PostgreSQL", address, exc) from None
