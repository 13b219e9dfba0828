"""Webhook secrets: Standard Webhooks `whsec_` form, kept encrypted at rest.

The service must sign with a secret, so it keeps it (unlike a password); it is stored
AES-256-GCM encrypted under a key derived from the master key, bound to the subscription.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sexto_events.messages import Message

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 48  # longer base64 runs are refused by the input guard


class InvalidSecret(ValueError):
    """A secret given by the caller is not a usable Standard Webhooks secret."""


def new_secret() -> str:
    """A fresh random secret: whsec_ + base64 of 32 bytes."""
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def check_secret(secret: str) -> str:
    """The secret if it is whsec_ + base64 of 24 to 48 random bytes."""
    if not secret.startswith(PREFIX):
        raise InvalidSecret(Message("secret-form"))
    try:
        raw = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret(Message("secret-base64")) from None
    if not MIN_BYTES <= len(raw) <= MAX_BYTES:
        raise InvalidSecret(Message("secret-length", size=len(raw)))
    return secret


class SecretBox:
    """Encrypts secrets for the subscriptions table."""

    def __init__(self, master_key: bytes) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sexto webhook secrets")
        self._aead = AESGCM(hkdf.derive(master_key))

    def seal(self, subscription_id: str, secret: str) -> bytes:
        """nonce || ciphertext, bound to the subscription id."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), subscription_id.encode())

    def open(self, subscription_id: str, sealed: bytes) -> str:
        """The secret back."""
        return self._aead.decrypt(sealed[:12], sealed[12:], subscription_id.encode()).decode()
