"""Checking the transparency log with the Python standard library alone.

Shipped in every court bundle beside verify.py, so a reader needs nothing else: RFC 6962
Merkle hashing and the RFC 9162 proof verification algorithms, RFC 8032 Ed25519
verification in pure Python, and the C2SP formats (signed-note, tlog-checkpoint,
tlog-cosignature/v1). Every refusal is a `ProofError` whose message names what failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import NamedTuple, Tuple  # noqa: UP035 (Python 3.8 subscripts typing.Tuple)

HASH_SIZE = 32
SIG_ED25519 = 0x01  # signed-note key type of a log's Ed25519 key
SIG_COSIGNATURE_V1 = 0x04  # signed-note key type of a tlog-cosignature/v1 Ed25519 key
MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note: more is a malformed note
DASH = "\u2014"  # the em dash that starts every signature line


class ProofError(ValueError):
    """A proof, signature, checkpoint or note that does not verify; the message says why."""


# --- RFC 6962 hashing -----------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _check_hashes(proof: list[bytes], what: str) -> None:
    for position, item in enumerate(proof):
        if len(item) != HASH_SIZE:
            raise ProofError(f"{what}: hash {position} is {len(item)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2), or ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"inclusion proof: leaf index {index} is not in a tree of size {size}")
    _check_hashes([leaf, *proof], "inclusion proof")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof of leaf {index} has {len(proof)} hashes: too many for a "
                f"tree of size {size} (a proof for another tree size?)"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof of leaf {index} has {len(proof)} hashes: too few for a tree "
            f"of size {size} (a proof for another tree size?)"
        )
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """Refuse unless `proof` shows leaf hash `leaf` at `index` in the tree (`size`, `root`)."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(
            f"inclusion proof of leaf {index} does not lead to the root of the tree of size "
            f"{size} (forged or altered proof, siblings out of order, or another leaf)"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> None:
    """Refuse unless `proof` shows the tree (size1, root1) is a prefix of (size2, root2)
    (RFC 9162 2.1.4.2): the log only grew, nothing was rewritten or rolled back."""
    if size1 > size2:
        raise ProofError(f"consistency: tree size went back from {size2} to {size1} (rollback)")
    if size1 == size2:
        if proof:
            raise ProofError("consistency: equal tree sizes need an empty proof")
        if root1 != root2:
            raise ProofError(
                f"consistency: two different roots for the same tree size {size1} (a fork)"
            )
        return
    if size1 == 0:
        if proof:
            raise ProofError("consistency: from the empty tree the proof must be empty")
        return
    if not proof:
        raise ProofError(f"consistency: empty proof from size {size1} to {size2}")
    _check_hashes(proof, "consistency proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root is a node of the new
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof from {size1} to {size2} has too many hashes "
                "(a proof for other tree sizes?)"
            )
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(
            f"consistency proof from {size1} to {size2} has too few hashes "
            "(a proof for other tree sizes?)"
        )
    if fr != root1:
        raise ProofError(
            f"consistency proof does not lead to the old root of size {size1}: the log was "
            "rewritten (a fork) or the proof is forged"
        )
    if sr != root2:
        raise ProofError(
            f"consistency proof does not lead to the new root of size {size2}: the log was "
            "rewritten (a fork) or the proof is forged"
        )


# --- sexto's leaves ---------------------------------------------------------------

LEAF_FORMAT = "sexto-leaf/v1"


def event_leaf(
    seq: int, territory: str, case_id: str, case_index: int, prev_leaf: int | None, body: bytes
) -> bytes:
    """The leaf of one stored message of the CASES stream.

    It binds the stream sequence, the case, the message's bytes exactly as stored
    (SHA-256), its position among its case's messages (0 for the first) and the leaf
    index of the case's previous message: a bundle's leaves linked by `prev` and numbered
    0..n-1 leave no room for a missing first or middle event.
    """
    prev = "-" if prev_leaf is None else str(prev_leaf)
    lines = [LEAF_FORMAT, f"seq {seq}", f"case {territory}/{case_id}", f"index {case_index}",
             f"prev {prev}", f"event {hashlib.sha256(body).hexdigest()}"]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


CASE_HEAD_FORMAT = "sexto-case-head/v1"


class CaseHead(NamedTuple):
    """The log's signed statement: in the tree of `size` leaves with root `root`, the case
    has `case_size` leaves, the last at `last_leaf` (None when it has none)."""

    origin: str
    size: int
    root: bytes
    territory: str
    case_id: str
    case_size: int
    last_leaf: int | None

    def text(self) -> bytes:
        """The statement as signed (a signed note's text)."""
        last = "-" if self.last_leaf is None else str(self.last_leaf)
        lines = [CASE_HEAD_FORMAT, self.origin, str(self.size),
                 base64.b64encode(self.root).decode(), f"case {self.territory}/{self.case_id}",
                 f"count {self.case_size}", f"last {last}"]  # fmt: skip
        return ("\n".join(lines) + "\n").encode()


def _after(line: str, prefix: str) -> str:
    if not line.startswith(prefix):
        raise ValueError(prefix)
    return line[len(prefix) :]


def parse_case_head(text: bytes) -> CaseHead:
    """A case-head statement's text, checked line by line."""
    lines = text.decode("utf-8").split("\n")
    try:
        fmt, origin, size, root, case, count, last, end = lines
        territory, _, case_id = _after(case, "case ").partition("/")
        last_leaf = _after(last, "last ")
        head = CaseHead(origin, int(size), base64.b64decode(root, validate=True), territory,
                        case_id, int(_after(count, "count ")),
                        None if last_leaf == "-" else int(last_leaf))  # fmt: skip
    except (ValueError, binascii.Error):
        raise ProofError("case head statement: malformed") from None
    if fmt != CASE_HEAD_FORMAT or end != "" or head.text() != text:
        raise ProofError("case head statement: malformed")
    return head


# --- RFC 8032 Ed25519 verification (pure Python, section 6's reference algorithm) ------

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

_Point = Tuple[int, int, int, int]  # noqa: UP006 (evaluated at run time on Python 3.8)


def _add(a: _Point, b: _Point) -> _Point:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, point: _Point) -> _Point:
    acc: _Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, point)
        point = _add(point, point)
        s >>= 1
    return acc


def _equal(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _decompress(raw: bytes) -> _Point | None:
    y = int.from_bytes(raw, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519 verification (cofactorless, as the reference and Go's crypto)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    h = int.from_bytes(digest, "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# --- C2SP signed-note ----------------------------------------------------------------


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || "\\n" || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


class VerifierKey(NamedTuple):
    """A public key as a signed-note verifier key (vkey) names it."""

    name: str
    key_type: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        """This key's 4-byte id."""
        return key_id(self.name, self.key_type, self.public_key)

    def vkey(self) -> str:
        """`<name>+<hex key id>+<base64(type || key)>`."""
        material = base64.b64encode(bytes([self.key_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def parse_vkey(vkey: str) -> VerifierKey:
    """A verifier key `<name>+<hex key id>+<base64(type || key)>`, checked."""
    name, _, rest = vkey.partition("+")
    hex_id, _, material = rest.partition("+")
    if not _valid_name(name) or len(hex_id) != 8 or not material:
        raise ProofError(f"verifier key {vkey!r} is not <name>+<8 hex digits>+<base64 key>")
    try:
        claimed = bytes.fromhex(hex_id)
        raw = base64.b64decode(material, validate=True)
    except (ValueError, binascii.Error):
        raise ProofError(f"verifier key {vkey!r}: bad hex key id or base64 key") from None
    if len(raw) != 33 or raw[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1):
        raise ProofError(f"verifier key {vkey!r}: not an Ed25519 key (type 0x01 or 0x04)")
    key = VerifierKey(name, raw[0], raw[1:])
    if key.key_id != claimed:
        raise ProofError(f"verifier key {vkey!r}: the key id does not match the name and key")
    return key


class NoteSignature(NamedTuple):
    """One signature line: the key name, its 4-byte key id, and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


def split_note(note: bytes) -> tuple[bytes, list[NoteSignature]]:
    """(text, signatures) of a signed note; ProofError when it is malformed."""
    try:
        whole = note.decode("utf-8")
    except UnicodeDecodeError:
        raise ProofError("malformed note: not UTF-8") from None
    if any(c < " " and c != "\n" for c in whole) or not whole.endswith("\n"):
        raise ProofError("malformed note: control characters or no final newline")
    at = whole.rfind("\n\n")
    if at < 0:
        raise ProofError("malformed note: no blank line before the signatures")
    text, sig_lines = whole[: at + 1], whole[at + 2 :].splitlines()
    if not sig_lines:
        raise ProofError("malformed note: no signature")
    if len(sig_lines) > MAX_SIGNATURES:
        raise ProofError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in sig_lines:
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raw = b""
        if dash != DASH or not _valid_name(name) or len(raw) < 5:
            raise ProofError(f"malformed note: bad signature line {line!r}")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text.encode(), signatures


def verify_note(note: bytes, key: VerifierKey) -> bytes:
    """The note's text once `key`'s signature on it verifies; ProofError naming the key."""
    text, signatures = split_note(note)
    mine = [s for s in signatures if s.name == key.name and s.key_id == key.key_id]
    if not mine:
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)
        raise ProofError(f"note is not signed by {key.name}+{key.key_id.hex()} (signed by {names})")
    if not any(ed25519_verify(key.public_key, text, s.signature) for s in mine):
        raise ProofError(f"invalid signature for key {key.name}+{key.key_id.hex()}")
    return text


# --- C2SP tlog-checkpoint and tlog-cosignature/v1 ----------------------------------


class Checkpoint(NamedTuple):
    """A checkpoint's body: origin, tree size, root hash, and any extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> bytes:
        """The checkpoint body as signed."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return ("\n".join([*lines, *self.extensions]) + "\n").encode()


def parse_checkpoint(text: bytes) -> Checkpoint:
    """A checkpoint body (the text of its signed note), checked line by line."""
    lines = text.decode("utf-8").split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise ProofError("checkpoint: needs origin, tree size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:
        raise ProofError("checkpoint: empty origin line")
    if not size.isdigit() or (size.startswith("0") and size != "0"):
        raise ProofError(f"checkpoint: tree size {size!r} is not a decimal without leading zeros")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise ProofError("checkpoint: root hash line is not base64") from None
    if len(root_hash) != HASH_SIZE:
        raise ProofError(f"checkpoint: root hash is {len(root_hash)} bytes, not {HASH_SIZE}")
    if any(not line for line in lines[3:-1]):
        raise ProofError("checkpoint: empty extension line")
    return Checkpoint(origin, int(size), root_hash, tuple(lines[3:-1]))


def open_checkpoint(note: bytes, log_key: VerifierKey, origin: str) -> Checkpoint:
    """The checkpoint of a note signed by the log's key, for the expected origin."""
    checkpoint = parse_checkpoint(verify_note(note, log_key))
    if checkpoint.origin != origin:
        raise ProofError(
            f"checkpoint is for origin {checkpoint.origin!r}, not the expected {origin!r}"
        )
    return checkpoint


def cosigned_message(body: bytes, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 signs: header, time line, then the checkpoint body."""
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + body


def cosignature_time(note: bytes, witness: VerifierKey) -> int:
    """The time of `witness`'s valid cosignature on the checkpoint `note`, or ProofError."""
    text, signatures = split_note(note)
    label = f"{witness.name}+{witness.key_id.hex()}"
    mine = [s for s in signatures if s.name == witness.name and s.key_id == witness.key_id]
    if not mine:
        raise ProofError(f"checkpoint has no cosignature by witness {label}")
    for found in mine:
        if len(found.signature) != 72:
            continue
        timestamp = int.from_bytes(found.signature[:8], "big")
        if timestamp < 2**63 and ed25519_verify(
            witness.public_key, cosigned_message(text, timestamp), found.signature[8:]
        ):
            return timestamp
    raise ProofError(f"invalid cosignature by witness {label}")


def require_quorum(note: bytes, witnesses: list[VerifierKey], quorum: int) -> list[str]:
    """The names of trusted witnesses whose cosignatures verify; ProofError below `quorum`
    distinct witness keys (one public key listed twice, under one name or two, counts once)."""
    if quorum < 1:
        raise ProofError(f"a quorum of {quorum} cosignatures proves nothing: at least 1")
    good: dict[bytes, str] = {}
    why = []
    for witness in witnesses:
        try:
            cosignature_time(note, witness)
            good.setdefault(witness.public_key, witness.name)
        except ProofError as exc:
            why.append(str(exc))
    if len(good) < quorum:
        raise ProofError(
            f"checkpoint has {len(good)} valid cosignature(s) from distinct trusted "
            f"witnesses, {quorum} required: " + "; ".join(why)
        )
    return list(good.values())
