"""RFC 9457 problem details for every API error, in English or French by Accept-Language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from sexto_events.errors import ConcurrencyConflict, LogUnavailable
from sexto_events.messages import DEFAULT_LANGUAGE, LANGUAGES, TITLES, Message, validation_text
from sexto_events.refusals import Conflict, Forbidden, Invalid, NotFound, Refusal, Unavailable
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as Message_

from sexto_service.auth.dependencies import Unauthorized

log = structlog.get_logger("sexto.http")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://sexto.example/problems/"


def language_of(accept_language: str | None) -> str:
    """The caller's preferred language among ours (`fr`, `fr-CA` → fr; default en)."""
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def request_language(request: Request) -> str:
    """The language a request's problems are answered in."""
    return language_of(request.headers.get("accept-language"))


def title_of(kind: str, language: str, situation: str = "invalid-request") -> str:
    """The title of a kind of problem; a kind without its own is titled by its situation."""
    titles = TITLES.get(kind) or TITLES[situation]
    return titles.get(language) or titles[DEFAULT_LANGUAGE]


def problem(
    status: int,
    kind: str,
    detail: str | Message,
    language: str = DEFAULT_LANGUAGE,
    *,
    situation: str = "invalid-request",
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; `kind` names the problem type (a stable slug)."""
    text = detail.text(language) if isinstance(detail, Message) else detail
    body = {
        "type": PROBLEM_BASE + kind,
        "title": title_of(kind, language, situation),
        "status": status,
        "detail": text,
    }
    body.update(extra)
    return JSONResponse(
        body,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={"Content-Language": language, "Vary": "Accept-Language"},
    )


_HTTP = {404: "route-not-found", 405: "method-not-allowed"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = f"http-{exc.status_code}"
    code = _HTTP.get(exc.status_code)
    detail: str | Message = Message(code, detail=exc.detail) if code else str(exc.detail)
    return problem(exc.status_code, kind, detail, request_language(request), situation="http-error")


def _key_missing(language: str) -> str:
    return Message("idempotency-key-missing").text(language)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    language = request_language(request)
    errors = [
        {
            "location": ".".join(str(p) for p in e["loc"]),
            "message": _key_missing(language)
            if e["type"] == "missing" and tuple(e["loc"]) == ("header", "idempotency-key")
            else validation_text(e["type"], e["msg"], e.get("ctx") or {}, language),
        }
        for e in exc.errors()
    ]
    return problem(422, "invalid-request", Message("invalid-request"), language, errors=errors)


# One status per situation, the same in every service.
STATUS: tuple[tuple[type[Refusal], int, str], ...] = (
    (NotFound, 404, "not-found"),
    (Forbidden, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (Unavailable, 503, "unavailable"),
    (Invalid, 422, "invalid-request"),
    (Refusal, 422, "invalid-request"),
)


def status_of(exc: Refusal) -> tuple[int, str]:
    """The HTTP status and English title of a refusal's situation."""
    status, situation = next((s, k) for cls, s, k in STATUS if isinstance(exc, cls))
    return status, title_of(exc.kind, DEFAULT_LANGUAGE, situation)


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    language = request_language(request)
    status, situation = next((s, k) for cls, s, k in STATUS if isinstance(exc, cls))
    detail = exc.detail_in(language)
    allowed = exc.extra.get("allowed")
    if isinstance(allowed, list):
        detail = (
            f"{detail}; {Message('allowed-next', allowed=allowed or ['nothing']).text(language)}"
        )
    response = problem(status, exc.kind, detail, language, situation=situation, **exc.extra)
    if isinstance(exc, Unavailable) and "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConcurrencyConflict)
    detail = Message("concurrency-conflict", reason=str(exc), case=exc.case)
    return problem(
        409, "concurrency-conflict", detail, request_language(request), situation="conflict"
    )


# The log did not acknowledge in time (a cluster without a quorum, a leader being elected):
# the command may be retried with the same Idempotency-Key, whose ids make it a no-op if the
# first attempt was stored after all. Nothing of the request is kept meanwhile.
LOG_UNAVAILABLE = (LogUnavailable, NatsTimeout, NoRespondersError)
RETRY_AFTER_S = 2


# PostgreSQL restarting or out of reach (a failover of a managed server), maybe after the
# request's own commit: what a request creates under an Idempotency-Key has an id derived
# from (caller, key) (events, subscriptions, a student's ref), so a retry with the key
# finds it instead of writing it twice.
DATABASE_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    # A pooled connection cut by the restart: refused, reset, or left mid-operation.
    asyncpg.InternalClientError,
    ConnectionError,
)


def _unavailable(kind: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def answer(request: Request, exc: Exception) -> JSONResponse:
        log.warning(kind, error_type=type(exc).__name__, method=request.method)
        response = problem(
            503, kind, Message(kind), request_language(request), situation="unavailable"
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    return answer


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unauthorized)
    response = problem(401, "unauthorized", exc.message, request_language(request))
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


class ServerErrors:
    """The outermost of our middlewares: a fault escaping the app is answered with the 500
    problem, logged by its type, and goes no further. (An exception handler registered for
    `Exception` answers too, but Starlette then re-raises, and the server drops the
    keep-alive connection the next request of the caller was going to use.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message_) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # The cause stays in the server's log, by type only: messages may hold data.
            log.error("request failed", error_type=type(exc).__name__, method=scope["method"])
            if started:
                raise  # an answer already under way cannot become a problem
            request = Request(scope)
            response = problem(
                500, "internal-error", Message("internal-error"), request_language(request)
            )
            await response(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every framework error answer in problem+json."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
    app.add_exception_handler(Refusal, _refused)
    for unavailable in LOG_UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable("log-unavailable"))
    for away in DATABASE_UNAVAILABLE:
        app.add_exception_handler(away, _unavailable("database-unavailable"))
