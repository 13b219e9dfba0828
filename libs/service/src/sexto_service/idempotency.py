"""One Idempotency-Key mechanism for every write (POST, PUT, PATCH, DELETE) of every service.

(caller, key) is bound to the hash of the request (method, path, query, canonical JSON
body) and, once answered, to that answer, in the service's own PostgreSQL schema: beyond
the NATS duplicate window, a retry days later still gets the first answer and writes
nothing. The same key with another request is a 422 problem. Of two concurrent requests
with one key, the unique (caller, key) row lets one run; the other waits for its answer.

Only a success (2xx) is kept: a refusal or a failure wrote nothing, so its retry runs again.
A claim whose process died is taken over once its lease ends, by the same request only;
the services' event ids derived from the key keep such a retry from recording twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sexto_events.chain import canonical_json
from sexto_events.db import NO_FLUSH, checked_schema
from sexto_events.messages import Message
from sexto_events.refusals import IdempotencyKeyReused, RequestInProgress
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects import postgresql

from sexto_service.auth.dependencies import BEARER, Unauthorized, current_principal
from sexto_service.problems import problem, request_language
from sexto_service.ratelimit import WriteLimiter

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = "Idempotency-Key"
KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
KEY_DESCRIPTION = (
    "8 to 128 letters, digits or `_.:-`, unique per intended write: a retry with the same "
    "key and body gets the first answer and records nothing; another body is a 422"
)
_KEY = re.compile(KEY_PATTERN)
LEASE = timedelta(seconds=60)  # a claim older than this belongs to a process that died
WAIT_S = 10.0  # how long a concurrent retry waits for the first request's answer
SECRET_FIELD = "secret"  # noqa: S105 - the name of a field never kept, not a password
_KEPT_HEADERS = ("content-type", "location", "idempotent-replayed")
# A claim's statement commits without waiting for the disk (`sexto_events.db.NO_FLUSH`):
# it promises nothing to anyone until its answer is kept, and the answer's commit stays
# synchronous, flushing the claim with it, as does any synchronous commit of the request
# before it (a new case's keys). A claim lost in a PostgreSQL crash before either is as if
# the request never came: its retry runs again, exactly what a retry does after a crash
# that left a claim without an answer. One disk flush fewer on every write's path.

# For a route that reads the key itself (its event ids derive from it); name the parameter
# `idempotency_key`.
IdempotencyKey = Annotated[str | None, Header(pattern=KEY_PATTERN, description=KEY_DESCRIPTION)]
RequiredIdempotencyKey = Annotated[str, Header(pattern=KEY_PATTERN, description=KEY_DESCRIPTION)]


IDEMPOTENCY_SCRIPTS = "sexto_service:migrations/idempotency"
IDEMPOTENCY_VERSION_TABLE = "alembic_version_idempotency"


def idempotency_table(schema: str) -> Table:
    """The idempotency records of one service, in its own schema (migrated: its scripts are
    sexto_service/migrations/idempotency, IDEMPOTENCY_SCRIPTS)."""
    return Table(
        "idempotency_keys",
        MetaData(schema=checked_schema(schema)),
        Column("caller", Text, primary_key=True),
        Column("key", Text, primary_key=True),
        Column("request_hash", Text, nullable=False),
        # NULL while the first request runs; its lease says until when it may.
        Column("status", Integer),
        Column("headers", postgresql.JSONB),
        Column("body", LargeBinary),
        Column("lease_token", Text),
        Column("lease_until", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("answered_at", DateTime(timezone=True)),
    )


def request_hash(method: str, path: str, query: str, payload: Any) -> str:
    """SHA-256 of the request as sent: what a key is bound to (JSON compared canonically)."""
    request = {"method": method.upper(), "path": path, "query": query, "body": payload}
    try:
        text = canonical_json(request)
    except (ValueError, TypeError):  # NaN, 1e400, integers past 2**53: no canonical form
        text = json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(text).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    """A first answer, as kept."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Claim:
    """This request runs: it holds (caller, key) under `token`."""

    token: str


class IdempotencyRecords:
    """(caller, key) → (request hash, answer) in one service's schema."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.table = f"{checked_schema(schema)}.idempotency_keys"

    async def claim(
        self,
        caller: str,
        key: str,
        digest: str,
        *,
        lease: timedelta = LEASE,
        wait_s: float = WAIT_S,
    ) -> Claim | Answer:
        """Run this request (a Claim), or the answer of the first one with this key."""
        deadline = time.monotonic() + wait_s
        while True:
            token = uuid.uuid4().hex
            async with self.pool.acquire() as conn:
                # Inserted: ours. A dead claim of the same request: taken over. Else: read it.
                won = await conn.fetchval(
                    f"INSERT INTO {self.table} AS r (caller, key, request_hash, lease_token, "
                    f"lease_until) SELECT $1, $2, $3, $4, now() + $5::interval FROM {NO_FLUSH} "
                    "ON CONFLICT (caller, key) DO UPDATE SET lease_token = EXCLUDED.lease_token, "
                    "lease_until = EXCLUDED.lease_until WHERE r.status IS NULL "
                    "AND r.lease_until < now() AND r.request_hash = EXCLUDED.request_hash "
                    "RETURNING r.lease_token",
                    caller, key, digest, token, lease,
                )  # fmt: skip
                if won == token:
                    return Claim(token)
                row = await conn.fetchrow(
                    f"SELECT request_hash, status, headers, body FROM {self.table} "
                    "WHERE caller = $1 AND key = $2",
                    caller, key,
                )  # fmt: skip
            if row is None:
                continue  # the first request failed and let the key go: run again
            if row["request_hash"] != digest:
                raise IdempotencyKeyReused(Message("idempotency-key-reused"))
            if row["status"] is not None:
                headers = row["headers"]
                if isinstance(headers, str):
                    headers = json.loads(headers)
                return Answer(row["status"], dict(headers or {}), bytes(row["body"] or b""))
            if time.monotonic() >= deadline:
                raise RequestInProgress(Message("request-in-progress"))
            await asyncio.sleep(0.05)

    async def answer(self, caller: str, key: str, claim: Claim, answer: Answer) -> None:
        """Keep the first answer for every retry."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self.table} SET status = $4, headers = $5::jsonb, body = $6, "
                "lease_token = NULL, lease_until = NULL, answered_at = now() "
                "WHERE caller = $1 AND key = $2 AND lease_token = $3",
                caller, key, claim.token, answer.status, json.dumps(answer.headers), answer.body,
            )  # fmt: skip

    async def release(self, caller: str, key: str, claim: Claim) -> None:
        """Let the key go: the request was refused and wrote nothing; it may be sent again,
        corrected, with the same key."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"DELETE FROM {self.table} WHERE caller = $1 AND key = $2 AND lease_token = $3",
                caller, key, claim.token,
            )  # fmt: skip

    async def expire(self, caller: str, key: str, claim: Claim) -> None:
        """The request failed midway (a server error: it may have written): the key stays
        bound to this request, which a retry takes over at once; another body is a 422."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self.table} SET lease_token = NULL, lease_until = now() "
                "- interval '1 second' WHERE caller = $1 AND key = $2 AND lease_token = $3",
                caller, key, claim.token,
            )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Replay:
    """How a route's answer is kept and given again, when the plain copy will not do.

    `keep` turns the JSON answered into the JSON kept (e.g. without a secret); `give` turns
    the JSON kept into the JSON answered again, or refuses (e.g. the thing made is gone).
    """

    keep: Callable[[Any], Any]
    give: Callable[[Request, Any], Awaitable[Any]]


E = TypeVar("E", bound=Callable[..., Any])
_REPLAY = "__sexto_replay__"


def replayed_with(replay: Replay) -> Callable[[E], E]:
    """Mark a write route whose answer is kept and replayed by `replay`."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, _REPLAY, replay)
        return endpoint

    return mark


def _invalid_key(key: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "string_pattern_mismatch",
                "loc": ("header", HEADER.lower()),
                "msg": f"String should match pattern '{KEY_PATTERN}'",
                "input": key,
                "ctx": {"pattern": KEY_PATTERN},
            }
        ]
    )


def _payload(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.hex()  # not JSON: the route refuses it; the bytes still bind the key


async def _over_limit(request: Request) -> Response | None:
    """The 429 of a caller over its write limit (sexto_service.ratelimit), else None."""
    limiter: WriteLimiter | None = getattr(request.app.state, "write_limiter", None)
    if limiter is None:
        return None
    try:
        principal = await current_principal(request, await BEARER(request))
    except Unauthorized:
        return None  # answered as a 401 by the route itself
    seconds = limiter.retry_after(principal.actor)
    if seconds is None:
        return None
    detail = Message(
        "too-many-writes", per_minute=limiter.per_minute, burst=limiter.burst, seconds=seconds
    )
    response = problem(429, "too-many-writes", detail, request_language(request))
    response.headers["Retry-After"] = str(seconds)
    return response


class IdempotentRoute(APIRoute):
    """An APIRoute whose writes honour `Idempotency-Key` (every service's routers use it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not (self.methods or set()) & WRITE_METHODS:
            return handler
        replay: Replay | None = getattr(self.endpoint, _REPLAY, None)

        async def idempotent(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return await _over_limit(request) or await handler(request)
            if not _KEY.match(key):
                raise _invalid_key(key)
            try:
                principal = await current_principal(request, await BEARER(request))
            except Unauthorized:
                return await handler(request)  # answered as a 401 by the route itself
            payload = _payload(await request.body())
            digest = request_hash(request.method, request.url.path, request.url.query, payload)
            records = IdempotencyRecords(
                request.app.state.runtime.pool, request.app.state.runtime.name
            )
            caller = principal.actor
            found = await records.claim(caller, key, digest)
            if isinstance(found, Answer):
                return await _again(request, found, replay)  # a replay costs no write
            refused = await _over_limit(request)
            if refused is not None:
                await records.release(caller, key, found)
                return refused
            try:
                response = await handler(request)
            except BaseException:
                await records.expire(caller, key, found)
                raise
            if response.status_code >= 500:
                await records.expire(caller, key, found)
                return response
            if not 200 <= response.status_code < 300:
                await records.release(caller, key, found)
                return response
            await records.answer(caller, key, found, _kept(response, replay))
            return response

        return idempotent


def _kept(response: Response, replay: Replay | None) -> Answer:
    body = bytes(getattr(response, "body", b""))  # a streamed answer is not kept whole
    if replay is not None and body:
        body = json.dumps(replay.keep(json.loads(body))).encode()
    if body and SECRET_FIELD.encode() in body:
        kept = json.loads(body)
        if isinstance(kept, dict) and kept.pop(SECRET_FIELD, None) is not None:
            body = json.dumps(kept).encode()  # a secret is shown once, never stored
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    return Answer(response.status_code, headers, body)


async def _again(request: Request, answer: Answer, replay: Replay | None) -> Response:
    body = answer.body
    if replay is not None and body:
        body = json.dumps(await replay.give(request, json.loads(body))).encode()
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
    headers["Idempotent-Replayed"] = "true"
    return Response(body, status_code=answer.status, headers=headers)
