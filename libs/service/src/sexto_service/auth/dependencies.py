"""FastAPI dependencies: `CurrentPrincipal` for any route that needs a caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sexto_events.principal import Principal

from sexto_service.auth.tokens import InvalidToken, TokenVerifier


class Unauthorized(Exception):
    """Raised for a missing or invalid bearer token; answered as a 401 problem."""


async def current_principal(request: Request) -> Principal:
    """The verified caller of this request."""
    verifier: TokenVerifier = request.app.state.verifier
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send a bearer token: Authorization: Bearer <token>")
    try:
        return await verifier.verify(token.strip())
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
