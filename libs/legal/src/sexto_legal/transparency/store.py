"""The Merkle tree in PostgreSQL: appending stream messages as leaves, reading proofs.

A batch of messages becomes leaves in one transaction with the tree's state (size and last
stream sequence), so after a crash the tree resumes exactly after its last committed leaf:
a message is never a leaf twice, and none is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg
from sexto_events.db import DbConnection, create_tables, drop_tables
from sexto_events.direct_get import StoredMessage

from sexto_legal.tlog_check import event_leaf, leaf_hash
from sexto_legal.transparency import merkle
from sexto_legal.transparency.tables import SCHEMA, TABLES


@dataclass(frozen=True, slots=True)
class CaseLeaf:
    """One leaf of a case: its index in the tree and what it binds."""

    index: int
    seq: int
    case_index: int
    prev_leaf: int | None
    event_sha256: bytes


class ProofRequestError(ValueError):
    """A proof asked for sizes or indices the tree cannot answer; the message says why."""


def case_of(subject: str) -> tuple[str, str]:
    """(territory, case id) of a CASES subject `<root>.<territory>.<case>.<context>.<event>`."""
    tokens = subject.split(".")
    return (tokens[1] if len(tokens) > 1 else "", tokens[2] if len(tokens) > 2 else "")


async def migrate(conn: DbConnection) -> None:
    """Create the tree's tables and its state row if missing."""
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    await create_tables(conn, TABLES)
    await conn.execute(
        f"INSERT INTO {SCHEMA}.tree_state (id, size, last_seq) VALUES (1, 0, 0) "
        "ON CONFLICT (id) DO NOTHING"
    )


async def drop(conn: DbConnection) -> None:
    """Drop the tree's tables (it is rebuilt from the stream)."""
    await drop_tables(conn, TABLES)


async def fetch_nodes(
    conn: DbConnection, keys: Iterable[merkle.NodeKey]
) -> dict[merkle.NodeKey, bytes]:
    """The stored hashes of `keys` (missing ones are absent)."""
    wanted = list(keys)
    if not wanted:
        return {}
    rows = await conn.fetch(
        f"SELECT n.level, n.idx, n.hash FROM {SCHEMA}.tree_nodes n "
        "JOIN unnest($1::smallint[], $2::bigint[]) AS k(level, idx) "
        "ON n.level = k.level AND n.idx = k.idx",
        [k[0] for k in wanted],
        [k[1] for k in wanted],
    )
    return {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}


async def state(conn: DbConnection) -> tuple[int, int]:
    """(tree size, stream sequence of the last leaf)."""
    row = await conn.fetchrow(f"SELECT size, last_seq FROM {SCHEMA}.tree_state WHERE id = 1")
    assert row is not None, "migrate() creates the state row"
    return int(row["size"]), int(row["last_seq"])


class Appender:
    """Appends messages in stream order, keeping the tree's right edge in memory."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.size = 0
        self.last_seq = 0
        self._edge: dict[merkle.NodeKey, bytes] = {}

    async def load(self) -> None:
        """Read the committed size, last sequence and right edge."""
        async with self._pool.acquire() as conn:
            self.size, self.last_seq = await state(conn)
            self._edge = await fetch_nodes(conn, merkle.frontier(self.size))

    def root(self) -> bytes:
        """The root hash of the committed tree."""
        return merkle.root_of(self.size, self._edge)

    async def append(self, messages: Sequence[StoredMessage]) -> int:
        """Add the messages after the last committed one as leaves, in one transaction;
        returns how many were added (0 for messages already in the tree)."""
        fresh = [m for m in messages if m.seq > self.last_seq]
        if not fresh:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            size, last_seq = await state(conn)
            if (size, last_seq) != (self.size, self.last_seq):
                raise RuntimeError("another process appended to the tree: one tree process only")
            keys = sorted({case_of(m.subject) for m in fresh})
            heads = {
                (r["territory"], r["case_id"]): (int(r["count"]), int(r["last_leaf"]))
                for r in await conn.fetch(
                    "SELECT c.territory, c.case_id, c.count, c.last_leaf "
                    f"FROM {SCHEMA}.tree_cases c "
                    "JOIN unnest($1::text[], $2::text[]) AS k(t, c) "
                    "ON c.territory = k.t AND c.case_id = k.c",
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                )
            }
            nodes = dict(self._edge)
            leaves: list[tuple[int, int, str, str, int, int | None, bytes]] = []
            written: list[tuple[merkle.NodeKey, bytes]] = []
            index = size
            for message in fresh:
                territory, case_id = case_of(message.subject)
                count, prev = heads.get((territory, case_id), (0, None))
                leaf = event_leaf(message.seq, territory, case_id, count, prev, message.body)
                added = merkle.appended_nodes(index, leaf_hash(leaf), nodes)
                nodes.update(added)
                written += added
                leaves.append((index, message.seq, territory, case_id, count, prev,
                               hashlib.sha256(message.body).digest()))  # fmt: skip
                heads[(territory, case_id)] = (count + 1, index)
                index += 1
            await conn.execute(
                f"INSERT INTO {SCHEMA}.tree_nodes (level, idx, hash) "
                "SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
                [k[0] for k, _ in written], [k[1] for k, _ in written], [h for _, h in written],
            )  # fmt: skip
            columns = list(zip(*leaves, strict=True))
            await conn.execute(
                f"INSERT INTO {SCHEMA}.tree_leaves "
                "(idx, seq, territory, case_id, case_index, prev_leaf, event_sha256) "
                "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], "
                "$5::int[], $6::bigint[], $7::bytea[])",
                *[list(c) for c in columns],
            )
            touched = sorted({(m[2], m[3]) for m in leaves})
            await conn.execute(
                f"INSERT INTO {SCHEMA}.tree_cases (territory, case_id, count, last_leaf) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) "
                "ON CONFLICT (territory, case_id) DO UPDATE "
                "SET count = excluded.count, last_leaf = excluded.last_leaf",
                [k[0] for k in touched], [k[1] for k in touched],
                [heads[k][0] for k in touched], [heads[k][1] for k in touched],
            )  # fmt: skip
            await conn.execute(
                f"UPDATE {SCHEMA}.tree_state SET size = $1, last_seq = $2 WHERE id = 1",
                index,
                fresh[-1].seq,
            )
        self.size, self.last_seq = index, fresh[-1].seq
        self._edge = {k: nodes[k] for k in merkle.frontier(index)}
        return len(fresh)


def _check_sizes(size: int, committed: int) -> None:
    if size < 0:
        raise ProofRequestError(f"tree size {size} is negative")
    if size > committed:
        raise ProofRequestError(f"tree size {size} is beyond the tree's {committed} leaves")


async def inclusion_proof(conn: DbConnection, index: int, size: int) -> list[bytes]:
    """The hashes proving leaf `index` is in the tree of `size` leaves."""
    if not 0 <= index < size:
        _check_sizes(size, (await state(conn))[0])
        raise ProofRequestError(
            f"leaf index {index} is not in a tree of size {size} (0..{size - 1})"
        )
    return (await inclusion_proofs(conn, [index], size))[1][0]


async def inclusion_proofs(
    conn: DbConnection, indices: list[int], size: int
) -> tuple[bytes, list[list[bytes]]]:
    """The root of the tree of `size` leaves and the inclusion proofs of the leaves
    `indices` (each in it), from one query of the stored nodes."""
    _check_sizes(size, (await state(conn))[0])
    ranges = [merkle.inclusion_ranges(index, size) for index in indices]
    wanted = merkle.needed([r for proof in ranges for r in proof] + merkle.root_ranges(size))
    nodes = await fetch_nodes(conn, wanted)
    return merkle.root_of(size, nodes), [merkle.hashes_of(proof, nodes) for proof in ranges]


async def consistency_proof(conn: DbConnection, size1: int, size2: int) -> list[bytes]:
    """The hashes proving the tree of `size1` leaves is a prefix of the one of `size2`."""
    _check_sizes(size2, (await state(conn))[0])
    if not 0 <= size1 <= size2:
        raise ProofRequestError(f"the older size {size1} must be between 0 and the newer {size2}")
    ranges = merkle.consistency_ranges(size1, size2)
    return merkle.hashes_of(ranges, await fetch_nodes(conn, merkle.needed(ranges)))


async def case_leaves(
    conn: DbConnection, territory: str, case_id: str, size: int
) -> list[CaseLeaf]:
    """The case's leaves in a tree of `size` leaves, in order."""
    rows = await conn.fetch(
        f"SELECT idx, seq, case_index, prev_leaf, event_sha256 FROM {SCHEMA}.tree_leaves "
        "WHERE territory = $1 AND case_id = $2 AND idx < $3 ORDER BY idx",
        territory, case_id, size,
    )  # fmt: skip
    return [CaseLeaf(r["idx"], r["seq"], r["case_index"], r["prev_leaf"], bytes(r["event_sha256"]))
            for r in rows]  # fmt: skip
