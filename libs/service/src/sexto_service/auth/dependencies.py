"""FastAPI dependencies: `CurrentPrincipal` for any route that needs a caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sexto_events.messages import Message
from sexto_events.principal import Principal
from sexto_events.refusals import Forbidden

from sexto_service.auth.tokens import InvalidToken, TokenVerifier, TokenWithoutAuthority


class Unauthorized(Exception):
    """Raised for a missing or invalid bearer token; answered as a 401 problem."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


# Declares the bearer scheme in each OpenAPI document (the /docs Authorize button); a missing
# or malformed header is ours to answer, as a problem, not FastAPI's.
BEARER = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="A JWT from the identity provider (EdDSA, ES256 or RS256) with `role` and "
    "the scope claims `school` or `territory`; `make token` mints one locally.",
)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """The verified caller of this request (verified once, whoever asks first)."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    verifier: TokenVerifier = request.app.state.verifier
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized(Message("unauthorized-missing"))
    try:
        principal = await verifier.verify(credentials.credentials.strip())
    except TokenWithoutAuthority as exc:
        raise Forbidden(exc.args[0]) from None
    except InvalidToken as exc:
        said = exc.args[0] if exc.args else None
        raise Unauthorized(
            said if isinstance(said, Message) else Message("unauthorized-invalid", reason=exc)
        ) from None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
