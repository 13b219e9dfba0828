"""The tree's tables, in a schema of their own: derived from the stream, so they can be
dropped and rebuilt from it (the published checkpoints stay on their own stream)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
)

SCHEMA = "transparency"

TREE = MetaData(schema=SCHEMA)

tree_nodes = Table(
    "tree_nodes",
    TREE,
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    PrimaryKeyConstraint("level", "idx"),
)
"""Hashes of complete subtrees, (level, index) as in tlog-tiles; level 0 holds leaf hashes."""

tree_leaves = Table(
    "tree_leaves",
    TREE,
    Column("idx", BigInteger, primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("territory", Text, nullable=False),
    Column("case_id", Text, nullable=False),
    Column("case_index", Integer, nullable=False),
    Column("prev_leaf", BigInteger, nullable=True),
    Column("event_sha256", LargeBinary, nullable=False),
)
"""What each leaf binds, to find a case's leaves and rebuild them (the bytes are on the
stream)."""

tree_cases = Table(
    "tree_cases",
    TREE,
    Column("territory", Text, nullable=False),
    Column("case_id", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("last_leaf", BigInteger, nullable=False),
    PrimaryKeyConstraint("territory", "case_id"),
)
"""Each case's number of leaves and its last leaf: the next leaf's index and prev."""

tree_state = Table(
    "tree_state",
    TREE,
    Column("id", SmallInteger, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
)
"""One row: the tree size and the stream sequence of its last leaf, committed with them."""

tree_checkpoints = Table(
    "tree_checkpoints",
    TREE,
    Column("size", BigInteger, primary_key=True),
    Column("note", LargeBinary, nullable=False),
    Column("signed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""Signed (and cosigned) checkpoints published, by tree size."""

TABLES = (tree_nodes, tree_leaves, tree_cases, tree_state, tree_checkpoints)
