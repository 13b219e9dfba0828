"""A case's transparency evidence for a court bundle: the case's stored messages, each with
its inclusion proof to one signed and cosigned checkpoint, and the log's signed statement
of the case's head at that checkpoint (its number of leaves and the last one)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sexto_events.direct_get import StoredMessage
from sexto_events.model import CaseRef
from sexto_events.store import EventStore

from sexto_legal.bundle_verify import check_transparency, no_pins
from sexto_legal.transparency.api import CaseLeaves, TreeClient

CHECKPOINT_FILE = "transparency/checkpoint.txt"
CASE_HEAD_FILE = "transparency/case-head.txt"
PROOFS_FILE = "transparency/proofs.jsonl"
ATTEMPTS = 5
QUORUM = 1  # a bundle no witness cosigned proves nothing against the log's operator


class EvidenceMismatch(RuntimeError):
    """The tree and the stream disagree on the case's messages (a tree behind its stream, or
    a stream the tree does not follow)."""


class NotWitnessed(EvidenceMismatch):
    """No witness cosigned the checkpoint (none configured, or none answered): no bundle is
    made that the verifier would refuse."""


@dataclass(frozen=True)
class CaseEvidence:
    """The messages the evidence covers and the files proving them."""

    stored: list[StoredMessage]
    leaves: CaseLeaves

    def files(self) -> dict[str, bytes]:
        """The bundle's transparency files."""
        proofs = b"".join(
            json.dumps({"position": position, **leaf}, sort_keys=True).encode() + b"\n"
            for position, leaf in enumerate(self.leaves.leaves)
        )
        return {
            CHECKPOINT_FILE: self.leaves.checkpoint,
            CASE_HEAD_FILE: self.leaves.head_statement,
            PROOFS_FILE: proofs,
        }

    def check(self, case: CaseRef) -> tuple[list[str], list[str]]:
        """The bundle verifier's transparency checks on this evidence: failures, and what
        a reviewer keeps (the checkpoint, the log's key, the case's head in it)."""
        files = self.files()
        head = json.loads(self.stored[-1].body).get("hash", "") if self.stored else ""
        manifest = {"transparency": self.manifest(), "territory": case.territory,
                    "case_id": case.case_id, "head_hash": head}  # fmt: skip
        return check_transparency(
            files.__getitem__, manifest, [m.body for m in self.stored], no_pins()
        )

    def manifest(self) -> dict[str, object]:
        """What the manifest says about the evidence: the keys to check it with."""
        origin = self.leaves.checkpoint.split(b"\n", 1)[0].decode()
        return {
            "origin": origin,
            "tree_size": self.leaves.size,
            "log_key": self.leaves.log_key,
            "witnesses": self.leaves.witnesses,
            "quorum": QUORUM,
        }


async def case_evidence(store: EventStore, tree: TreeClient, case: CaseRef) -> CaseEvidence:
    """The case's messages up to a fresh checkpoint that holds its last one, with proofs.

    A checkpoint made after the case was read may hold newer events of the case: the
    messages are read again until the two agree, so the bundle is exactly the case as of
    its checkpoint.
    """
    stored = await store.read_raw(case)
    for _ in range(ATTEMPTS):
        leaves = await tree.case(case.territory, case.case_id, stored[-1].seq if stored else 0)
        seqs = [int(leaf["seq"]) for leaf in leaves.leaves]
        if len(seqs) > len(stored):
            stored = await store.read_raw(case)
            continue
        if seqs != [m.seq for m in stored[: len(seqs)]] or len(seqs) < len(stored):
            raise EvidenceMismatch(
                f"the transparency log's leaves of case {case.case_id} are not the stream's "
                f"messages (stream sequences {seqs[:3]}... against {[m.seq for m in stored[:3]]}"
                "...): is the tree process following this stream?"
            )
        if not leaves.witnesses:
            raise NotWitnessed(
                "the transparency log has no witness configured (SEXTO_TLOG_WITNESSES): "
                "an uncosigned checkpoint proves nothing, so no bundle is made"
            )
        evidence = CaseEvidence(stored, leaves)
        failures, _ = evidence.check(case)
        if any("cosignature" in f for f in failures):
            raise NotWitnessed("; ".join(failures))
        if failures:
            raise EvidenceMismatch("; ".join(failures))
        return evidence
    raise EvidenceMismatch(f"case {case.case_id} kept growing while its evidence was gathered")
