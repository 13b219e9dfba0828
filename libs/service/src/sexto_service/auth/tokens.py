"""Bearer JWT validation: configured keys or a JWKS address, listed algorithms only."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sexto_events.messages import Message
from sexto_events.principal import POLICE_ROLES, SCHOOL_ROLES, Principal, Role

# Asymmetric only: a shared HMAC secret would let any verifier mint tokens, and "none"
# is never acceptable.
SAFE_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256"})


class InvalidToken(Exception):
    """A missing, malformed, expired or untrusted bearer token; the message says which."""


class TokenWithoutAuthority(InvalidToken):
    """A genuine token that names no known role or lacks its role's scope claim: it
    authenticates its bearer but authorises nothing (403, naming the claim)."""


class AuthSettings(BaseSettings):
    """Where trusted keys come from (environment prefix SEXTO_AUTH_)."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_AUTH_", extra="ignore")

    issuer: str = "sexto-local"
    audience: str = "sexto"
    algorithms: list[str] = Field(default_factory=lambda: ["EdDSA", "ES256", "RS256"])
    jwks_url: str | None = None
    public_key_files: list[Path] = Field(default_factory=list)
    # The embedded default's local issuer: its public key is trusted when this is set.
    local_key_file: Path | None = None
    leeway_s: int = 30


class TokenVerifier:
    """Checks signature, algorithm, issuer, audience, expiry; returns the principal."""

    def __init__(self, settings: AuthSettings) -> None:
        unsafe = set(settings.algorithms) - SAFE_ALGORITHMS
        if unsafe:
            raise ValueError(f"algorithms {sorted(unsafe)} are not allowed for bearer tokens")
        self._settings = settings
        self._keys: list[Any] = [_load_public(p) for p in settings.public_key_files]
        if settings.local_key_file is not None and settings.local_key_file.exists():
            private = serialization.load_pem_private_key(
                settings.local_key_file.read_bytes(), password=None
            )
            self._keys.append(private.public_key())
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        if not self._keys and self._jwks is None:
            raise ValueError("no trusted key: set SEXTO_AUTH_PUBLIC_KEY_FILES or _JWKS_URL")

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, or InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken(Message("token-not-jwt")) from None
        if header.get("alg") not in self._settings.algorithms:
            raise InvalidToken(Message("token-algorithm", alg=header.get("alg")))
        keys = list(self._keys)
        if self._jwks is not None:
            try:
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWTError as exc:
                raise InvalidToken(Message("token-no-key", cause=str(exc))) from None
            keys = [signing.key]
        last: jwt.PyJWTError | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=self._settings.algorithms,
                    audience=self._settings.audience,
                    issuer=self._settings.issuer,
                    leeway=self._settings.leeway_s,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError as exc:
                last = exc
                continue
            except (TypeError, ValueError):
                continue  # a trusted key of another type than the token's algorithm
            except jwt.PyJWTError as exc:
                raise InvalidToken(_reason(exc)) from None
            return _principal(claims)
        raise InvalidToken(_reason(last) if last else Message("token-no-trusted-key"))


def _reason(exc: jwt.PyJWTError) -> Message:
    codes = {
        jwt.ExpiredSignatureError: "token-expired",
        jwt.InvalidAudienceError: "token-audience",
        jwt.InvalidIssuerError: "token-issuer",
        jwt.InvalidSignatureError: "token-signature",
        jwt.MissingRequiredClaimError: "token-missing-claim",
    }
    return Message(codes.get(type(exc), "token-invalid"), cause=str(exc))


# The scope claim each role acts within: a school's staff their school, police and the
# prosecutor (DPCP) their territory. Missing, it is refused, never read as "everywhere".
SCOPE_CLAIMS: dict[Role, str] = {
    **dict.fromkeys(SCHOOL_ROLES, "school"),
    **dict.fromkeys(POLICE_ROLES, "territory"),
    Role.PROSECUTOR: "territory",
}
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _scope_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        found = type(value).__name__ if not isinstance(value, str) else "this text"
        raise InvalidToken(Message("token-claim-type", claim=name, found=found))
    return value


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise TokenWithoutAuthority(
            Message("token-role", roles=", ".join(r.value for r in Role))
        ) from None
    school, territory = _scope_claim(claims, "school"), _scope_claim(claims, "territory")
    required = SCOPE_CLAIMS.get(role)
    if required is not None and {"school": school, "territory": territory}[required] is None:
        raise TokenWithoutAuthority(Message("token-scope-missing", role=role.value, claim=required))
    return Principal(actor=str(claims["sub"]), role=role, school_id=school, territory=territory)


def _load_public(path: Path) -> Any:
    return serialization.load_pem_public_key(path.read_bytes())
