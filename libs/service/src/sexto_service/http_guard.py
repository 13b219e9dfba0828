"""Hostile-input defences in front of every route: JSON only, bounded, never an image.

Rule 1 of the domain: nobody views the images, and no request may carry one. A refused
request is answered with a problem document that says what to do instead; nothing of it
is stored or logged.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from sexto_events import messages

from sexto_service.encoded_media import refused_text, starts_like_media
from sexto_service.problems import language_of, problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024
INLINE_CHECK_BYTES = 8 * 1024  # bodies up to this size are checked on the event loop
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MEDIA_TYPES = ("image/", "video/", "audio/", "multipart/", "application/octet-stream")


# Fields that hold an address, not words: a long path is no blob, but an image still is.
ADDRESS_FIELDS = frozenset({"url"})


def find_refused(value: Any, path: str = "") -> tuple[str, messages.Message] | None:
    """(JSON path, reason) of the first value carrying encoded or binary content."""
    if isinstance(value, str):
        words = path.rsplit(".", 1)[-1] not in ADDRESS_FIELDS
        reason = refused_text(value, words=words)
        return (path or "(body)", reason) if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_refused(key, path) if isinstance(key, str) else None
            found = found or find_refused(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = find_refused(item, f"{path}[{index}]")
            if found:
                return found
    return None


# Headers not checked: the bearer token (base64url by design, verified, never stored) and
# cookies (none are used). Every other header value may be stored (Idempotency-Key) or
# logged, and every query value reaches a route.
UNCHECKED_HEADERS = frozenset({"authorization", "cookie"})


_PASSED_HEADERS: OrderedDict[bytes, None] = OrderedDict()
_PASSED_KEPT = 1024
_PASSED_LONGEST = 256


def _header_verdict(value: bytes) -> messages.Message | None:
    """A header value's verdict. Values that passed are remembered (at most 1024 of at most
    256 bytes): most come again on every request of a client (host, accept, user agent,
    content type), and headers carry no personal data. A refused value is never kept."""
    if value in _PASSED_HEADERS:
        _PASSED_HEADERS.move_to_end(value)
        return None
    reason = refused_text(value.decode("latin-1"), words=False)
    if reason is None and len(value) <= _PASSED_LONGEST:
        _PASSED_HEADERS[value] = None
        if len(_PASSED_HEADERS) > _PASSED_KEPT:
            _PASSED_HEADERS.popitem(last=False)
    return reason


def find_refused_in_request(scope: Scope) -> tuple[str, messages.Message] | None:
    """(where, reason) of the first header or query value carrying encoded content."""
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name in UNCHECKED_HEADERS:
            continue
        reason = _header_verdict(bytes(raw_value))
        if reason:
            return f"header {name}", reason
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        reason = refused_text(key, words=False) or refused_text(value, words=False)
        if reason:
            return f"query {key[:40]}", reason
    return None


class InputGuard:
    """ASGI middleware checking every request body before any route sees it."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = find_refused_in_request(scope)
        if found is not None:
            where, reason = found
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            detail = messages.Message("images-refused-at", where=where, reason=reason)
            refusal = problem(
                422, "images-refused", detail, language_of(headers.get("accept-language")),
                field=where,
            )  # fmt: skip
            await refusal(scope, receive, send)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        verdict = await self._inspect(scope, receive)
        if isinstance(verdict, bytes):
            await self.app(scope, _replay(verdict), send)
        else:
            await verdict(scope, receive, send)

    async def _inspect(self, scope: Scope, receive: Receive) -> bytes | JSONResponse:
        """The body if it may pass, else the problem response refusing it."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        language = language_of(headers.get("accept-language"))

        # Each refusal is rendered only when it is the answer (most requests pass).
        def images_refused() -> JSONResponse:
            return problem(415, "images-refused", messages.Message("images-refused"), language)

        def json_only() -> JSONResponse:
            return problem(415, "json-only", messages.Message("json-only"), language)

        def too_large() -> JSONResponse:
            detail = messages.Message("too-large", limit=self.max_body)
            return problem(413, "too-large", detail, language)

        if content_type.startswith(MEDIA_TYPES):
            return images_refused()
        # A command without a body (e.g. POST .../retry) needs no content type.
        bodiless = content_type == "" and headers.get("content-length", "0") == "0"
        if (
            not bodiless
            and content_type != "application/json"
            and not content_type.endswith("+json")
        ):
            return json_only()
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return too_large()
        body = b""
        while True:
            message = await receive()
            body += bytes(message.get("body", b""))
            if len(body) > self.max_body:
                return too_large()
            if not message.get("more_body"):
                break
        if bodiless and body:
            return json_only()
        if starts_like_media(body):
            return images_refused()
        try:
            parsed = json.loads(body) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            detail = messages.Message("malformed-json", position=getattr(exc, "pos", 0))
            return problem(400, "malformed-json", detail, language)
        # A large body is looked at off the event loop: the other requests go on meanwhile.
        found = (
            await asyncio.to_thread(find_refused, parsed)
            if len(body) > INLINE_CHECK_BYTES
            else find_refused(parsed)
        )
        if found:
            where, reason = found
            detail = messages.Message("images-refused-at", where=where, reason=reason)
            return problem(422, "images-refused", detail, language, field=where)
        return body


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
