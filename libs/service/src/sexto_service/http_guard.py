"""Hostile-input defences in front of every route: JSON only, bounded, never an image.

Rule 1 of the domain: nobody views the images, and no request may carry one. A refused
request is answered with a problem document that says what to do instead; nothing of it
is stored or logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse
from sexto_events import messages

from sexto_service.problems import language_of, problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MEDIA_TYPES = ("image/", "video/", "audio/", "multipart/", "application/octet-stream")

_DATA_URI = re.compile(r"data:[a-z0-9.+-]+/[a-z0-9.+-]+[;,]", re.IGNORECASE)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{80,}={0,2}")
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def looks_like_media(head: bytes) -> bool:
    """True when bytes start with the signature of an image, video or common container."""
    return (
        head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00"))
        or head.startswith((b"MM\x00*", b"\x00\x00\x01\x00", b"%PDF"))
        or (head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI "))
        or head[4:8] == b"ftyp"
    )


def _decodes_to_media(token: str) -> bool:
    padded = token.replace("-", "+").replace("_", "/")
    padded += "=" * (-len(padded) % 4)
    try:
        return looks_like_media(base64.b64decode(padded[:64], validate=True))
    except (binascii.Error, ValueError):
        return False


# Media signatures, as they appear inside base64 text at each of the three byte
# alignments: found even when the encoding is split by spaces or line breaks, or
# preceded by other characters.
_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\xff\xd8\xff\xdb",
    b"GIF87a", b"GIF89a", b"WEBPVP8", b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypisom",
    b"ftypmp42", b"ftypqt", b"%PDF-", b"JFIF\x00", b"Exif\x00\x00",
)  # fmt: skip


def _encoded_forms(signature: bytes) -> set[str]:
    forms = set()
    for pad in range(3):
        text = base64.b64encode(b"\0" * pad + signature + b"\0\0").decode()
        start = -(-pad * 4 // 3)  # characters touched by the unknown leading bytes
        end = (pad + len(signature)) * 4 // 3  # characters fixed by the signature alone
        form = text[start:end]
        if len(form) >= 5:
            forms.add(form)
            forms.add(form.replace("+", "-").replace("/", "_"))
    return forms


_ENCODED_MEDIA = re.compile(
    "|".join(re.escape(f) for sig in _SIGNATURES for f in sorted(_encoded_forms(sig)))
)
_B64_LINE = re.compile(r"^[A-Za-z0-9+/_-]{40,}={0,2}$")


def refused_text(value: str) -> messages.Message | None:
    """Why a text value is refused (None: it is words)."""
    if _DATA_URI.search(value):
        return messages.Message("holds-data-uri")
    if _CONTROL.search(value):
        return messages.Message("holds-control-characters")
    if _BASE64_RUN.search(value):
        return messages.Message("holds-base64")
    if _ENCODED_MEDIA.search(re.sub(r"\s+", "", value)):
        return messages.Message("holds-encoded-image")
    if any(_decodes_to_media(t) for t in _BASE64_TOKEN.findall(value)):
        return messages.Message("holds-encoded-image")
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if sum(1 for line in lines if _B64_LINE.match(line)) >= 2:
        return messages.Message("holds-base64-lines")
    return None


def find_refused(value: Any, path: str = "") -> tuple[str, messages.Message] | None:
    """(JSON path, reason) of the first value carrying encoded or binary content."""
    if isinstance(value, str):
        reason = refused_text(value)
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


class InputGuard:
    """ASGI middleware checking every request body before any route sees it."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
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
        images_refused = problem(
            415, "images-refused", messages.Message("images-refused"), language
        )
        if content_type.startswith(MEDIA_TYPES):
            return images_refused
        json_only = problem(415, "json-only", messages.Message("json-only"), language)
        # A command without a body (e.g. POST .../retry) needs no content type.
        bodiless = content_type == "" and headers.get("content-length", "0") == "0"
        if (
            not bodiless
            and content_type != "application/json"
            and not content_type.endswith("+json")
        ):
            return json_only
        too_large = problem(
            413, "too-large", messages.Message("too-large", limit=self.max_body), language
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return too_large
        body = b""
        while True:
            message = await receive()
            body += bytes(message.get("body", b""))
            if len(body) > self.max_body:
                return too_large
            if not message.get("more_body"):
                break
        if bodiless and body:
            return json_only
        if looks_like_media(body[:16]):
            return images_refused
        try:
            parsed = json.loads(body) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            detail = messages.Message("malformed-json", position=getattr(exc, "pos", 0))
            return problem(400, "malformed-json", detail, language)
        found = find_refused(parsed)
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
