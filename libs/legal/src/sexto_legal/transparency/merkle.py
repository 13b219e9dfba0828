"""RFC 6962 Merkle tree arithmetic over stored nodes: roots and proofs, no I/O.

The tree is stored as the hashes of its complete subtrees, keyed (level, index): the node
at level L and index i covers leaves [i * 2^L, (i + 1) * 2^L). This is the layout of Go's
sumdb `tlog` package and of tlog-tiles (tiles are groups of these hashes): appending a leaf
writes it and the complete subtrees it closes, never rewrites a stored hash. Any other
subtree hash (a tree size that is not a power of two) is folded from at most log2(n) stored
nodes, so a proof needs O(log^2 n) stored hashes, fetched in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sexto_legal.tlog_check import EMPTY_ROOT, node_hash

NodeKey = tuple[int, int]
Range = tuple[int, int]


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(lo: int, hi: int) -> list[NodeKey]:
    """The stored nodes whose fold is the RFC 6962 hash of leaves [lo, hi), left to right.

    `lo` is aligned to a power of two at least hi - lo (true of every range a proof or a
    root needs), so [lo, hi) splits into complete subtrees of decreasing sizes.
    """
    nodes = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def fold(hashes: list[bytes]) -> bytes:
    """The RFC 6962 hash of complete subtrees of decreasing sizes (right to left)."""
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes make the inclusion proof of leaf `index` (RFC 6962 PATH)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    return list(reversed(out))


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The subtrees whose hashes make the consistency proof from size1 to size2 (RFC 6962
    SUBPROOF); empty when there is nothing to prove (0 or equal sizes)."""
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from tree size {size1} to {size2}")
    if size1 in (0, size2):
        return []
    out: list[Range] = []
    lo, hi, m, complete = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            m -= k
            lo += k
            complete = False
    if not complete:
        out.append((lo, hi))
    return list(reversed(out))


def needed(ranges: Iterable[Range]) -> set[NodeKey]:
    """Every stored node the ranges' hashes are folded from."""
    return {key for lo, hi in ranges for key in range_nodes(lo, hi)}


def hashes_of(ranges: Iterable[Range], nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """Each range's hash, folded from the fetched `nodes` (KeyError: a node is missing)."""
    return [fold([nodes[key] for key in range_nodes(lo, hi)]) for lo, hi in ranges]


def root_ranges(size: int) -> list[Range]:
    """The one range whose hash is the root of a tree of `size` leaves (none when empty)."""
    return [(0, size)] if size else []


def root_of(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """The root hash of the tree of `size` leaves."""
    return hashes_of(root_ranges(size), nodes)[0] if size else EMPTY_ROOT


def appended_nodes(
    size: int, leaf: bytes, nodes: Mapping[NodeKey, bytes]
) -> list[tuple[NodeKey, bytes]]:
    """The nodes stored when leaf hash `leaf` becomes leaf number `size` (0-based): the leaf
    and every complete subtree it closes; their left halves are read from `nodes`."""
    out = [((0, size), leaf)]
    level, index, current = 0, size, leaf
    while index & 1:
        current = node_hash(nodes[(level, index - 1)], current)
        level, index = level + 1, index >> 1
        out.append(((level, index), current))
    return out


def frontier(size: int) -> list[NodeKey]:
    """The complete subtrees on the right edge of a tree of `size` leaves: all that is
    needed (with the new leaf) to append, and to compute the root."""
    return range_nodes(0, size)
