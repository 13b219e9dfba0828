"""Token verification against a JWKS address served on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sexto_service.auth import AuthSettings, InvalidToken, Role, TokenVerifier
from sexto_service.auth.issuer import mint

KEY = generate_private_key(SECP256R1())
JWK = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key())) | {"kid": "k1", "use": "sig"}


class _JWKS(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"keys": [JWK]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _JWKS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()


def token(**claims: object) -> str:
    now = int(time.time())
    base = {"iss": "idp", "aud": "sexto", "sub": "client-9", "iat": now, "exp": now + 300,
            "role": "police_dispatch", "territory": "spvm"}  # fmt: skip
    return jwt.encode(base | claims, KEY, algorithm="ES256", headers={"kid": "k1"})


async def test_a_token_signed_by_a_key_of_the_jwks_is_accepted(jwks_url: str) -> None:
    verifier = TokenVerifier(AuthSettings(issuer="idp", jwks_url=jwks_url))

    principal = await verifier.verify(token())

    assert principal.role is Role.POLICE_DISPATCH
    assert principal.territory == "spvm"


async def test_a_token_from_a_key_outside_the_jwks_is_refused(
    jwks_url: str, tmp_path: object
) -> None:
    verifier = TokenVerifier(AuthSettings(issuer="idp", jwks_url=jwks_url))
    other = generate_private_key(SECP256R1())
    forged = jwt.encode({"sub": "x"}, other, algorithm="ES256", headers={"kid": "k1"})

    with pytest.raises(InvalidToken):
        await verifier.verify(forged)


def test_symmetric_and_none_algorithms_cannot_be_configured() -> None:
    for algorithm in ("HS256", "none"):
        with pytest.raises(ValueError, match="not allowed"):
            TokenVerifier(AuthSettings(algorithms=[algorithm], jwks_url="http://127.0.0.1:1/"))


async def test_a_local_issuer_token_is_refused_by_a_jwks_only_verifier(jwks_url: str) -> None:
    verifier = TokenVerifier(AuthSettings(jwks_url=jwks_url))
    local = mint(Ed25519PrivateKey.generate(), role=Role.ADMIN)

    with pytest.raises(InvalidToken):
        await verifier.verify(local)
