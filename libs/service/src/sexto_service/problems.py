"""RFC 9457 problem details for every API error."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sexto_events.errors import ConcurrencyConflict
from sexto_events.refusals import Conflict, Forbidden, Invalid, NotFound, Refusal, Unavailable
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


# One status per situation, the same in every service.
STATUS: tuple[tuple[type[Refusal], int, str], ...] = (
    (NotFound, 404, "Not found"),
    (Forbidden, 403, "Forbidden"),
    (Conflict, 409, "Conflict"),
    (Unavailable, 503, "Unavailable"),
    (Invalid, 422, "Invalid request"),
    (Refusal, 422, "Invalid request"),
)


def status_of(exc: Refusal) -> tuple[int, str]:
    """The HTTP status and title of a refusal's situation."""
    return next((status, title) for cls, status, title in STATUS if isinstance(exc, cls))


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    status, title = status_of(exc)
    detail = exc.detail
    allowed = exc.extra.get("allowed")
    if isinstance(allowed, list):
        detail = f"{detail}; allowed next: {allowed or ['nothing']}"
    return problem(status, title, detail, exc.kind, **exc.extra)


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
    app.add_exception_handler(Refusal, _refused)
