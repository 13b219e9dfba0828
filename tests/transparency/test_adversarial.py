"""Forged proofs, checkpoints and witness requests, each refused with a message naming what
failed (the attacks of immudb's forged-proof advisory and of a log operator rewriting its
history). Pure: no servers."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from sexto_legal import tlog_check as t
from sexto_legal.transparency import merkle
from sexto_legal.transparency.signing import Signer, cosign, sign_checkpoint
from sexto_legal.transparency.witness import (
    AddCheckpoint,
    Refused,
    Witness,
    decide,
    encode_request,
)

from tests.transparency.test_vectors import stored_nodes

ORIGIN = "sexto.test/cases"
LOG = Signer(ORIGIN, t.SIG_ED25519, bytes(range(32)))
OTHER_LOG = Signer(ORIGIN, t.SIG_ED25519, bytes(range(1, 33)))
OTHER_ORIGIN = Signer("elsewhere.test/log", t.SIG_ED25519, bytes(range(32)))
WITNESS = Signer("witness.test/w1", t.SIG_COSIGNATURE_V1, bytes(range(2, 34)))
LEAVES = [f"event {i}".encode() for i in range(13)]
NODES = stored_nodes(LEAVES)


def proof(index: int, size: int) -> list[bytes]:
    return merkle.hashes_of(merkle.inclusion_ranges(index, size), NODES)


def consistency(size1: int, size2: int) -> list[bytes]:
    return merkle.hashes_of(merkle.consistency_ranges(size1, size2), NODES)


def root(size: int) -> bytes:
    return merkle.root_of(size, NODES)


def test_a_valid_proof_verifies() -> None:
    t.verify_inclusion(5, 13, t.leaf_hash(LEAVES[5]), proof(5, 13), root(13))


def test_a_forged_inclusion_proof_is_refused() -> None:
    forged = proof(5, 13)
    forged[1] = bytes(32)
    with pytest.raises(t.ProofError, match="does not lead to the root of the tree of size 13"):
        t.verify_inclusion(5, 13, t.leaf_hash(LEAVES[5]), forged, root(13))


def test_a_proof_for_another_tree_size_is_refused() -> None:
    with pytest.raises(t.ProofError, match="too many for a tree of size 5"):
        t.verify_inclusion(2, 5, t.leaf_hash(LEAVES[2]), proof(2, 13), root(5))
    with pytest.raises(t.ProofError, match="too few for a tree of size 13"):
        t.verify_inclusion(2, 13, t.leaf_hash(LEAVES[2]), proof(2, 5), root(13))


def test_swapped_siblings_are_refused() -> None:
    swapped = proof(5, 13)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(t.ProofError, match="siblings out of order"):
        t.verify_inclusion(5, 13, t.leaf_hash(LEAVES[5]), swapped, root(13))


def test_a_proof_of_one_leaf_does_not_prove_another() -> None:
    with pytest.raises(t.ProofError, match="does not lead to the root"):
        t.verify_inclusion(5, 13, t.leaf_hash(LEAVES[6]), proof(5, 13), root(13))
    with pytest.raises(t.ProofError, match="leaf index 13 is not in a tree of size 13"):
        t.verify_inclusion(13, 13, t.leaf_hash(LEAVES[5]), proof(5, 13), root(13))


def test_immudb_style_forgery_a_node_passed_off_as_a_leaf_is_refused() -> None:
    # RFC 6962's 0x00/0x01 prefixes: an inner node's hash never equals a leaf's hash, so a
    # proof one level shorter that treats an inner node as the "leaf" fails.
    inner = t.node_hash(t.leaf_hash(LEAVES[4]), t.leaf_hash(LEAVES[5]))
    shorter = proof(4, 13)[1:]
    with pytest.raises(t.ProofError):
        t.verify_inclusion(2, 13, inner, shorter, root(13))


def test_consistency_refuses_a_rewritten_history() -> None:
    t.verify_consistency(7, 13, root(7), root(13), consistency(7, 13))
    rewritten = stored_nodes([*LEAVES[:3], b"altered", *LEAVES[4:]])
    rewritten_proof = merkle.hashes_of(merkle.consistency_ranges(7, 13), rewritten)
    with pytest.raises(t.ProofError, match="old root of size 7: the log was rewritten"):
        t.verify_consistency(7, 13, root(7), merkle.root_of(13, rewritten), rewritten_proof)
    with pytest.raises(t.ProofError, match="rollback"):
        t.verify_consistency(13, 7, root(13), root(7), [])
    with pytest.raises(t.ProofError, match="a fork"):
        t.verify_consistency(7, 7, root(7), merkle.root_of(7, rewritten), [])
    with pytest.raises(t.ProofError, match="too many hashes"):
        t.verify_consistency(7, 8, root(7), root(8), consistency(7, 13))


def note_of(size: int, signer: Signer = LOG, nodes: dict[merkle.NodeKey, bytes] = NODES) -> bytes:
    checkpoint = t.Checkpoint(signer.name, size, merkle.root_of(size, nodes))
    return sign_checkpoint(checkpoint, signer)


def test_checkpoint_signed_by_another_key_or_for_another_origin_is_refused() -> None:
    key = LOG.verifier
    assert t.open_checkpoint(note_of(13), key, ORIGIN).size == 13
    with pytest.raises(
        t.ProofError, match=re.escape(f"not signed by sexto.test/cases+{key.key_id.hex()}")
    ):
        t.open_checkpoint(note_of(13, OTHER_LOG), key, ORIGIN)
    with pytest.raises(t.ProofError, match=r"not signed by sexto\.test/cases"):
        t.open_checkpoint(note_of(13, OTHER_ORIGIN), key, ORIGIN)
    with pytest.raises(t.ProofError, match=r"not the expected 'sexto\.test/cases'"):
        t.open_checkpoint(note_of(13, OTHER_ORIGIN), OTHER_ORIGIN.verifier, ORIGIN)
    tampered = note_of(13).replace(b"\n13\n", b"\n12\n")
    with pytest.raises(t.ProofError, match="invalid signature"):
        t.open_checkpoint(tampered, key, ORIGIN)


def test_cosignature_format_and_quorum() -> None:
    note = note_of(13)
    body = t.open_checkpoint(note, LOG.verifier, ORIGIN).text()
    line = cosign(body, WITNESS, 1_700_000_000)
    cosigned = note + line
    assert t.cosignature_time(cosigned, WITNESS.verifier) == 1_700_000_000
    assert t.require_quorum(cosigned, [WITNESS.verifier], 1) == [WITNESS.name]
    with pytest.raises(t.ProofError, match="0 valid cosignature"):
        t.require_quorum(note, [WITNESS.verifier], 1)
    other_body = t.open_checkpoint(note_of(12), LOG.verifier, ORIGIN).text()
    moved = note + cosign(other_body, WITNESS, 1_700_000_000)  # a cosignature of another tree
    with pytest.raises(t.ProofError, match=r"invalid cosignature by witness witness\.test/w1"):
        t.cosignature_time(moved, WITNESS.verifier)


def test_a_quorum_counts_distinct_witness_keys_and_is_never_below_one() -> None:
    note = note_of(13)
    cosigned = note + cosign(t.open_checkpoint(note, LOG.verifier, ORIGIN).text(), WITNESS, 1)
    twice = [WITNESS.verifier, WITNESS.verifier]
    assert t.require_quorum(cosigned, twice, 1) == [WITNESS.name]
    with pytest.raises(t.ProofError, match=r"1 valid cosignature.*2 required"):
        t.require_quorum(cosigned, twice, 2)
    with pytest.raises(t.ProofError, match="a quorum of 0 cosignatures proves nothing"):
        t.require_quorum(note, [WITNESS.verifier], 0)


def request(old: int, size: int, proof_hashes: list[bytes] | None = None,
            note: bytes | None = None) -> AddCheckpoint:  # fmt: skip
    hashes = consistency(old, size) if proof_hashes is None else proof_hashes
    return AddCheckpoint(old, hashes, note_of(size) if note is None else note)


def test_the_witness_cosigns_only_consistent_growth() -> None:
    key = LOG.verifier
    first = decide(None, request(0, 7), key, ORIGIN)
    assert first.size == 7
    assert decide(first, request(7, 13), key, ORIGIN).size == 13
    with pytest.raises(Refused, match="rollback refused: tree size 5 is below the cosigned 7"):
        decide(first, AddCheckpoint(7, [], note_of(5)), key, ORIGIN)
    stale = pytest.raises(Refused, match="latest cosigned tree size is 7, not 3")
    with stale as caught:
        decide(first, request(3, 13), key, ORIGIN)
    assert caught.value.size == 7
    forked = stored_nodes([*LEAVES[:2], b"rewritten", *LEAVES[3:]])
    fork = AddCheckpoint(7, merkle.hashes_of(merkle.consistency_ranges(7, 13), forked),
                         note_of(13, nodes=forked))  # fmt: skip
    with pytest.raises(Refused, match="fork or bad proof refused"):
        decide(first, fork, key, ORIGIN)
    same_size_fork = AddCheckpoint(7, [], note_of(7, nodes=forked))
    with pytest.raises(Refused, match="two different roots for the same tree size 7"):
        decide(first, same_size_fork, key, ORIGIN)
    with pytest.raises(Refused, match="checkpoint refused: note is not signed by"):
        decide(first, AddCheckpoint(7, consistency(7, 13), note_of(13, OTHER_LOG)), key, ORIGIN)
    with pytest.raises(Refused, match=r"checkpoint refused: .*not signed by"):
        decide(first, AddCheckpoint(7, [], note_of(13, OTHER_ORIGIN)), key, ORIGIN)


def test_the_request_body_is_tlog_witness_add_checkpoint() -> None:
    body = encode_request(7, consistency(7, 13), note_of(13))
    assert body.startswith(b"old 7\n")
    assert b"\n\nsexto.test/cases\n13\n" in body


async def test_the_witness_state_is_durable_file_and_folder_before_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    witness = Witness(WITNESS, LOG.verifier, ORIGIN, tmp_path / "latest-checkpoint")
    await witness.add_checkpoint(encode_request(0, consistency(0, 13), note_of(13)), 1)
    assert synced == ["file", "folder"]  # the rename is on disk only once its folder is
    assert Witness(WITNESS, LOG.verifier, ORIGIN, tmp_path / "latest-checkpoint").latest
