"""Signing notes, checkpoints and cosignatures with Ed25519 keys kept outside the log.

A signer key is stored as the Go signed-note private key string
`PRIVATE+KEY+<name>+<hex key id>+<base64(type || 32-byte seed)>` in a file readable by
its owner only; its public half is the verifier key (vkey) published in the docs and in
every bundle. Verification is `sexto_legal.tlog_check` (standard library only).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sexto_legal.tlog_check import (
    DASH,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    VerifierKey,
    cosigned_message,
)

_PREFIX = "PRIVATE+KEY+"


@dataclass(frozen=True)
class Signer:
    """An Ed25519 key with its signed-note name and key type (0x01 log, 0x04 cosigner)."""

    name: str
    key_type: int
    seed: bytes

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> VerifierKey:
        """The public half, as a verifier key."""
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, self.key_type, public)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message`."""
        return self._private.sign(message)

    def skey(self) -> str:
        """The private key string (Go's note.NewSigner format)."""
        material = base64.b64encode(bytes([self.key_type]) + self.seed).decode()
        return f"{_PREFIX}{self.name}+{self.verifier.key_id.hex()}+{material}"


def parse_skey(skey: str) -> Signer:
    """A signer from `PRIVATE+KEY+<name>+<hex id>+<base64(type || seed)>`, checked."""
    if not skey.startswith(_PREFIX):
        raise ValueError("a signer key starts with PRIVATE+KEY+")
    parts = skey[len(_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise ValueError("a signer key is PRIVATE+KEY+<name>+<key id>+<key>")
    name, hex_id, material = parts
    try:
        raw = base64.b64decode(material, validate=True)
        claimed = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error):
        raise ValueError("a signer key's id is hex and its key base64") from None
    if len(raw) != 33 or raw[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1) or len(claimed) != 4:
        raise ValueError("a signer key holds an Ed25519 seed of type 0x01 or 0x04")
    signer = Signer(name, raw[0], raw[1:])
    if signer.verifier.key_id != claimed:
        raise ValueError("the signer key's id does not match its name and key")
    return signer


def generate(name: str, key_type: int) -> Signer:
    """A new random key."""
    return Signer(name, key_type, os.urandom(32))


def load_or_create(path: Path, name: str, key_type: int) -> Signer:
    """The signer stored at `path`, created (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate(name, key_type).skey() + "\n")
    signer = parse_skey(path.read_text().strip())
    if signer.name != name or signer.key_type != key_type:
        raise ValueError(f"{path} holds the key of {signer.name}, not of {name}")
    return signer


def signature_line(signer: Signer, signature: bytes) -> bytes:
    """`— <name> <base64(key id || signature)>` and its newline."""
    encoded = base64.b64encode(signer.verifier.key_id + signature).decode()
    return f"{DASH} {signer.name} {encoded}\n".encode()


def sign_note(text: bytes, signer: Signer) -> bytes:
    """A signed note: the text, a blank line, the signature line."""
    return text + b"\n" + signature_line(signer, signer.sign(text))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The checkpoint as a note signed by the log's key."""
    return sign_note(checkpoint.text(), signer)


def cosign(body: bytes, signer: Signer, timestamp: int) -> bytes:
    """A tlog-cosignature/v1 signature line over a checkpoint body at `timestamp`."""
    signature = signer.sign(cosigned_message(body, timestamp))
    return signature_line(signer, timestamp.to_bytes(8, "big") + signature)
