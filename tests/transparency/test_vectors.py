"""Published vectors, byte for byte: RFC 6962 / CT Merkle proofs (transparency-dev/merkle
proof/verify_test.go), RFC 8032 Ed25519 test 1, and golang.org/x/mod/sumdb/note examples."""

from __future__ import annotations

import hashlib

import pytest
from sexto_legal import tlog_check as t
from sexto_legal.transparency import merkle
from sexto_legal.transparency.signing import generate, parse_skey, sign_note

LEAVES = [bytes.fromhex(h) for h in
          ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
           "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
ROOTS = [bytes.fromhex(h) for h in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]  # fmt: skip


def h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (leaf number, 1-based as in the Go file; tree size; proof)
INCLUSION = [
    (1, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (3, 3, h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (2, 5, h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (1, 1, []),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]  # fmt: skip


def stored_nodes(leaves: list[bytes]) -> dict[merkle.NodeKey, bytes]:
    """The tree built leaf by leaf, as the tree process stores it."""
    nodes: dict[merkle.NodeKey, bytes] = {}
    for size, leaf in enumerate(leaves):
        nodes.update(merkle.appended_nodes(size, t.leaf_hash(leaf), nodes))
    return nodes


def test_roots_of_every_prefix_match_the_vectors() -> None:
    nodes = stored_nodes(LEAVES)
    assert [merkle.root_of(n, nodes) for n in range(1, 9)] == ROOTS
    assert merkle.root_of(0, nodes) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_are_generated_and_verified_byte_for_byte(
    leaf: int, size: int, proof: list[bytes]
) -> None:
    nodes = stored_nodes(LEAVES[:size])
    generated = merkle.hashes_of(merkle.inclusion_ranges(leaf - 1, size), nodes)
    assert generated == proof
    t.verify_inclusion(leaf - 1, size, t.leaf_hash(LEAVES[leaf - 1]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_consistency_proofs_are_generated_and_verified_byte_for_byte(
    size1: int, size2: int, proof: list[bytes]
) -> None:
    nodes = stored_nodes(LEAVES[:size2])
    assert merkle.hashes_of(merkle.consistency_ranges(size1, size2), nodes) == proof
    t.verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)


def test_every_proof_of_every_tree_up_to_40_leaves_verifies() -> None:
    leaves = [bytes([i]) * 3 for i in range(40)]
    nodes = stored_nodes(leaves)
    for size in range(1, 41):
        root = merkle.root_of(size, nodes)
        for index in range(size):
            proof = merkle.hashes_of(merkle.inclusion_ranges(index, size), nodes)
            t.verify_inclusion(index, size, t.leaf_hash(leaves[index]), proof, root)
        for old in range(size + 1):
            proof = merkle.hashes_of(merkle.consistency_ranges(old, size), nodes)
            t.verify_consistency(old, size, merkle.root_of(old, nodes), root, proof)


def test_rfc8032_test_1() -> None:
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert t.ed25519_verify(public, b"", signature)
    assert not t.ed25519_verify(public, b"\x00", signature)
    assert not t.ed25519_verify(public, b"", signature[:63] + bytes([signature[63] ^ 1]))


def test_pure_ed25519_agrees_with_cryptography() -> None:
    for n in range(5):
        signer = generate("sexto.test/agree", t.SIG_ED25519)
        message = f"message {n}".encode()
        signature = signer.sign(message)
        assert t.ed25519_verify(signer.verifier.public_key, message, signature)
        assert not t.ed25519_verify(signer.verifier.public_key, message + b"!", signature)


PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
    "gotpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwn"
    "WLox33WWd1RvMc+QQ=\n"
).encode()


def test_go_note_signing_is_byte_for_byte() -> None:
    signer = parse_skey(PETER_SKEY)
    assert signer.verifier.vkey() == PETER_VKEY
    assert sign_note(TEXT, signer) == TEXT + b"\n" + PETER_SIG
    assert signer.skey() == PETER_SKEY


def test_go_note_examples_open_with_each_key() -> None:
    note = TEXT + b"\n" + PETER_SIG + ENOCH_SIG
    assert t.verify_note(note, t.parse_vkey(PETER_VKEY)) == TEXT
    assert t.verify_note(note, t.parse_vkey(ENOCH_VKEY)) == TEXT


def test_go_note_refusals() -> None:
    peter = t.parse_vkey(PETER_VKEY)
    forged = PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(t.ProofError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        t.verify_note(TEXT + b"\n" + forged, peter)
    with pytest.raises(t.ProofError, match="not signed by PeterNeumann"):
        t.verify_note(TEXT + b"\n" + ENOCH_SIG, peter)
    signed = TEXT + b"\n" + PETER_SIG
    bad_notes = [TEXT, TEXT + b"\n", signed[:-1], b"\x01" + signed,
                 signed + b"Unexpected line.\n", TEXT + b"\n" + PETER_SIG * 101]  # fmt: skip
    for bad in bad_notes:
        with pytest.raises(t.ProofError, match="malformed note"):
            t.verify_note(bad, peter)


def test_go_verifier_key_manglings_are_refused() -> None:
    raw = bytearray(PETER_VKEY.encode())
    for i in range(len(raw)):
        raw[i] += 1
        with pytest.raises(t.ProofError):
            t.parse_vkey(raw.decode("latin-1"))
        raw[i] -= 1
    for cut in range(1, len(PETER_VKEY)):
        with pytest.raises(t.ProofError):
            t.parse_vkey(PETER_VKEY[:cut])
