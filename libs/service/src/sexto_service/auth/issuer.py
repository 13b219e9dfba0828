"""The local token issuer of the embedded default and the tests: `make token ROLE=… SCOPE=…`.

usage: python -m sexto_service.auth.issuer --role intervener --scope school-042
       python -m sexto_service.auth.issuer --role police_dispatch --scope spvm
(`--scope` is the school for school roles, the territory for the others.)
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sexto_events.principal import SCHOOL_ROLES, Role

from sexto_service.auth.tokens import AuthSettings

DEFAULT_KEY_FILE = Path(".data/issuer/ed25519.pem")


def ensure_key(path: Path) -> Ed25519PrivateKey:
    """The issuer's Ed25519 key, created (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


def mint(
    key: Ed25519PrivateKey,
    *,
    role: Role,
    subject: str | None = None,
    school: str | None = None,
    territory: str | None = None,
    issuer: str = "sexto-local",
    audience: str = "sexto",
    ttl_s: int = 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed bearer token for the given role and scope."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject or f"{role.value}-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + ttl_s,
        "role": role.value,
    }
    if school:
        claims["school"] = school
    if territory:
        claims["territory"] = territory
    claims |= extra or {}
    return jwt.encode(claims, key, algorithm="EdDSA")


def main() -> None:
    """Print a token."""
    parser = argparse.ArgumentParser(description="Mint a local bearer token")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--scope", default="", help="school or territory, by role")
    parser.add_argument("--subject")
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args()
    role = Role(args.role)
    school = args.scope if role in SCHOOL_ROLES and args.scope else None
    territory = args.scope if role not in SCHOOL_ROLES and args.scope else None
    settings = AuthSettings()
    key = ensure_key(settings.local_key_file or DEFAULT_KEY_FILE)
    print(
        mint(
            key,
            role=role,
            subject=args.subject or None,
            school=school,
            territory=territory,
            issuer=settings.issuer,
            audience=settings.audience,
            ttl_s=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
