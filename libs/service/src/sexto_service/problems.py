"""RFC 9457 problem details for every API error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sexto_events.errors import ConcurrencyConflict
from starlette.exceptions import HTTPException as StarletteHTTPException

from sexto_service.auth.dependencies import Unauthorized

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://sexto.example/problems/"


def problem(status: int, title: str, detail: str, kind: str, **extra: Any) -> JSONResponse:
    """A problem+json response; `kind` names the problem type (a stable slug)."""
    body = {"type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "HTTP error"),
        str(exc.detail),
        f"http-{exc.status_code}",
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]
    return problem(
        422,
        "Invalid request",
        "the request does not match the schema: fix the fields listed in `errors`",
        "invalid-request",
        errors=errors,
    )


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def refusal(status: int, title: str, kind: str) -> Handler:
    """A handler answering an exception with its message as the problem's detail."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return problem(status, title, str(exc), kind)

    return handle


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    detail = f"{exc}; retry the request"
    return problem(409, "Conflict", detail, "concurrency-conflict")


async def _unauthorized(_: Request, exc: Exception) -> JSONResponse:
    response = problem(401, "Unauthorized", str(exc), "unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # The cause stays in the server's log (by type only here: messages may hold data).
    return problem(
        500,
        "Internal error",
        f"the request failed on our side ({type(exc).__name__}); nothing was recorded unless "
        "a later read shows it; retry, and report the problem if it persists",
        "internal-error",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every framework error answer in problem+json."""
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
