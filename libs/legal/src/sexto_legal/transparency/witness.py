"""A witness (C2SP tlog-witness, over NATS): cosigns a checkpoint only when it is signed by
the log's key, for the log's origin, and provably extends the last one it cosigned.

The request body is tlog-witness's `add-checkpoint` body: `old <size>`, the consistency
proof from that size (one base64 hash a line), a blank line, then the signed checkpoint.
The witness keeps only the last checkpoint it cosigned, in a file of its own written
atomically before it answers, so a restart can never be talked into a rollback or a fork.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from nats.aio.msg import Msg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sexto_events.connection import connect

from sexto_legal.tlog_check import (
    EMPTY_ROOT,
    SIG_COSIGNATURE_V1,
    Checkpoint,
    ProofError,
    VerifierKey,
    open_checkpoint,
    parse_checkpoint,
    parse_vkey,
    verify_consistency,
)
from sexto_legal.transparency.signing import Signer, cosign, load_or_create

log = structlog.get_logger("sexto.witness")


def witness_subject(witness: VerifierKey) -> str:
    """The NATS subject a witness answers add-checkpoint requests on."""
    return f"tlog.witness.{witness.key_id.hex()}.add-checkpoint"


class Refused(ValueError):
    """A checkpoint the witness will not cosign; `size` is its latest when the caller's
    `old` was stale (tlog-witness's 409 Conflict)."""

    def __init__(self, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request."""

    old: int
    proof: list[bytes]
    note: bytes


def encode_request(old: int, proof: list[bytes], note: bytes) -> bytes:
    """The add-checkpoint body."""
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
    return ("\n".join(lines) + "\n\n").encode() + note


def parse_request(body: bytes) -> AddCheckpoint:
    """An add-checkpoint body, or Refused naming what is malformed."""
    head, sep, note = body.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").split("\n")
    if not sep or not lines[0].startswith("old "):
        raise Refused("malformed request: `old <size>`, proof lines, blank line, checkpoint")
    old = lines[0][4:]
    if not old.isdigit():
        raise Refused(f"malformed request: old size {old!r} is not a number")
    try:
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except binascii.Error:
        raise Refused("malformed request: a proof line is not base64") from None
    return AddCheckpoint(int(old), proof, note)


def decide(
    latest: Checkpoint | None, request: AddCheckpoint, log_key: VerifierKey, origin: str
) -> Checkpoint:
    """The checkpoint to cosign (the witness's new latest), or Refused saying why."""
    try:
        new = open_checkpoint(request.note, log_key, origin)
    except ProofError as exc:
        raise Refused(f"checkpoint refused: {exc}") from None
    known = latest.size if latest else 0
    if request.old != known:
        raise Refused(
            f"the witness's latest cosigned tree size is {known}, not {request.old}", known
        )
    if new.size < known:
        raise Refused(f"rollback refused: tree size {new.size} is below the cosigned {known}")
    try:
        verify_consistency(
            known, new.size, latest.root if latest else EMPTY_ROOT, new.root, request.proof
        )
    except ProofError as exc:
        raise Refused(f"fork or bad proof refused: {exc}") from None
    return new


class Witness:
    """A witness's key and its last cosigned checkpoint, kept in `state_file`."""

    def __init__(self, signer: Signer, log_key: VerifierKey, origin: str, state_file: Path):
        self.signer, self.log_key, self.origin, self.state_file = (
            signer,
            log_key,
            origin,
            state_file,
        )
        self._lock = asyncio.Lock()
        self.latest = parse_checkpoint(state_file.read_bytes()) if state_file.exists() else None

    def _save(self, checkpoint: Checkpoint) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        with temporary.open("wb") as out:
            out.write(checkpoint.text())
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self.state_file)
        # The rename itself is durable only once the directory is on disk: without this, a
        # power loss could bring back the previous checkpoint and the witness could then be
        # talked into cosigning a fork of a tree it already cosigned.
        folder = os.open(self.state_file.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    async def add_checkpoint(self, body: bytes, now: int) -> bytes:
        """The cosignature line for a valid request (the new latest saved first)."""
        async with self._lock:
            new = decide(self.latest, parse_request(body), self.log_key, self.origin)
            if self.latest is None or new.size > self.latest.size:
                self._save(new)
                self.latest = new
            return cosign(new.text(), self.signer, now)

    async def on_request(self, msg: Msg) -> None:
        """NATS handler: a JSON answer with the cosignature, or the refusal and its size."""
        try:
            line = await self.add_checkpoint(msg.data, int(time.time()))
            answer: dict[str, object] = {"cosignature": line.decode()}
        except Refused as exc:
            log.warning("checkpoint refused", reason=str(exc))
            answer = {"error": str(exc), "size": exc.size}
        await msg.respond(json.dumps(answer).encode())


class WitnessSettings(BaseSettings):
    """A witness's identity, its key and state files, and the log it watches."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_WITNESS_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    name: str = "witness.sexto.local/w1"
    key_file: Path = Path(".data/witness/witness.key")
    state_file: Path = Path(".data/witness/latest-checkpoint")
    log_vkey: str = Field(description="the log's verifier key, <name>+<id>+<base64 key>")
    origin: str = "sexto.local/cases"


async def serve(settings: WitnessSettings, ready: asyncio.Event | None = None) -> None:
    """Answer add-checkpoint requests until cancelled."""
    signer = load_or_create(settings.key_file, settings.name, SIG_COSIGNATURE_V1)
    settings.state_file.parent.mkdir(parents=True, exist_ok=True)
    witness = Witness(signer, parse_vkey(settings.log_vkey), settings.origin, settings.state_file)
    nc = await connect(settings.nats_url, name="sexto-witness")
    try:
        await nc.subscribe(witness_subject(signer.verifier), cb=witness.on_request)
        await nc.flush()
        print(f"witness {signer.verifier.vkey()}", flush=True)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await nc.close()


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(serve(WitnessSettings()))
