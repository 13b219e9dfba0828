"""The tree process's NATS request subjects, and a client for them (REST, CLI, export).

Requests and answers are JSON; hashes are base64; a refusal is `{"error": "...", "kind": K}`
where K is `invalid` (the request's numbers are wrong: fix them), `not_yet` (the tree has not
reached the stream sequence asked about: retry) or `internal` (a fault of the tree).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from sexto_legal.transparency.store import ProofRequestError

PREFIX = "tlog"
CHECKPOINT = "checkpoint"
INCLUSION = "proof.inclusion"
CONSISTENCY = "proof.consistency"
CASE = "case"
INVALID, NOT_YET, INTERNAL = "invalid", "not_yet", "internal"


def subjects_of(stream: str) -> str:
    """The prefix of the request subjects of the tree over `stream` (one tree per stream)."""
    return f"{PREFIX}.{stream}"


class TreeUnavailable(RuntimeError):
    """The tree process did not answer."""


class TreeBehind(TreeUnavailable):
    """The tree has not reached the stream sequence asked about yet: retry shortly."""


class TreeFault(RuntimeError):
    """The tree process failed to answer a valid request (a fault of the tree, not the caller)."""


@dataclass(frozen=True)
class CaseLeaves:
    """A case's leaves in a checkpoint's tree, each with its inclusion proof."""

    checkpoint: bytes
    size: int
    leaves: list[dict[str, Any]]
    head_statement: bytes
    log_key: str
    witnesses: list[str]


def b64(hashes: list[bytes]) -> list[str]:
    """Hashes as base64 strings."""
    return [base64.b64encode(h).decode() for h in hashes]


def unb64(items: list[str]) -> list[bytes]:
    """Base64 strings as hashes."""
    return [base64.b64decode(i) for i in items]


class TreeClient:
    """Asks the tree process for checkpoints and proofs."""

    def __init__(self, nc: Client, stream: str, timeout: float = 15.0) -> None:
        self._nc = nc
        self._prefix = subjects_of(stream)
        self._timeout = timeout

    async def _ask(self, subject: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = await self._nc.request(
                f"{self._prefix}.{subject}", json.dumps(request).encode(), self._timeout
            )
        except (NatsTimeout, NoRespondersError, TimeoutError):
            raise TreeUnavailable(
                "the transparency tree process did not answer: is it running (make run starts it)?"
            ) from None
        answer: dict[str, Any] = json.loads(reply.data)
        if "error" in answer:
            refusals: dict[object, type[Exception]] = {NOT_YET: TreeBehind, INTERNAL: TreeFault}
            raise refusals.get(answer.get("kind"), ProofRequestError)(str(answer["error"]))
        return answer

    async def checkpoint(self, covers_seq: int = 0) -> bytes:
        """The newest signed, cosigned checkpoint whose tree holds stream sequence
        `covers_seq` (one is made if none does yet)."""
        answer = await self._ask(CHECKPOINT, {"covers_seq": covers_seq})
        return str(answer["note"]).encode()

    async def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of leaf `index` in the tree of `size` leaves."""
        return unb64((await self._ask(INCLUSION, {"index": index, "size": size}))["proof"])

    async def consistency(self, size1: int, size2: int) -> list[bytes]:
        """The consistency proof from tree size `size1` to `size2`."""
        answer = await self._ask(CONSISTENCY, {"from": size1, "to": size2})
        return unb64(answer["proof"])

    async def case(self, territory: str, case_id: str, covers_seq: int) -> CaseLeaves:
        """A checkpoint holding `covers_seq`, the case's leaves in it with their inclusion
        proofs, and the log's signed statement of the case's head at that checkpoint."""
        answer = await self._ask(
            CASE, {"territory": territory, "case_id": case_id, "covers_seq": covers_seq}
        )
        return CaseLeaves(
            checkpoint=str(answer["checkpoint"]).encode(),
            size=int(answer["size"]),
            leaves=list(answer["leaves"]),
            head_statement=str(answer["head_statement"]).encode(),
            log_key=str(answer["log_key"]),
            witnesses=[str(w) for w in answer["witnesses"]],
        )
