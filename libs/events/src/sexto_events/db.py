"""PostgreSQL connection pools, schema names, and the DDL of declared tables."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

DbConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection, whether opened directly or borrowed from a pool."""

NO_FLUSH = "(SELECT set_config('synchronous_commit', 'off', true)) AS no_flush"
"""In a statement's FROM: its transaction's commit does not wait for the disk.

What it writes is visible to everyone at once (visibility does not wait for the flush);
only its durability is lazier, for at most three WAL-writer rounds (0.6 s by default), and
the setting is local to the transaction. For writes whose loss in a PostgreSQL crash only
lets something be done again that is safe to do again: each user says why.
"""

_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def checked_schema(name: str) -> str:
    """A schema name safe to interpolate in DDL."""
    if not _SCHEMA.match(name):
        raise ValueError(f"schema name {name!r} must be lowercase letters, digits, '_'")
    return name


async def _released(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing beyond asyncpg's own
    step, which rolls back a transaction left open and drops the client's listeners.

    asyncpg's default reset is one more round trip per use (`pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`), for session state sexto never leaves on a pooled
    connection: advisory locks are transaction-scoped (`pg_advisory_xact_lock`), cursors
    live inside transactions, nothing is SET for a session, and the one LISTEN (the
    notification sender's) is removed before its connection goes back, where a left-over
    one would only deliver notifications nobody hears. `tests/events/test_db.py` keeps it
    so.
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections go back without a reset round trip (`_released`)."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_released)
    assert pool is not None
    return pool


MIGRATION_LOCK = 0x5E7700


async def run_ddl(conn: DbConnection, ddl: str) -> None:
    """Run idempotent DDL under a cluster-wide lock (services start concurrently)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(ddl)


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _create_ddl(tables: Iterable[Table]) -> list[str]:
    statements = []
    for table in tables:
        statements.append(str(CreateTable(table, if_not_exists=True).compile(dialect=_DIALECT)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=_DIALECT)))
    return statements


def column_names(table: Table) -> str:
    """A declared table's columns, comma-separated: a query that reads whole rows names them."""
    return ", ".join(table.columns.keys())


async def create_tables(conn: DbConnection, tables: Iterable[Table]) -> None:
    """Create declared tables (a read model) and their indexes if missing."""
    await run_ddl(conn, ";\n".join(_create_ddl(tables)))


async def missing_columns(conn: DbConnection, tables: Iterable[Table]) -> list[str]:
    """The declared columns an existing table lacks (a read model made by an older shape);
    a table not there yet lacks nothing (it is created as declared)."""
    missing: list[str] = []
    for table in tables:
        found = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = $1 AND table_name = $2",
                table.schema,
                table.name,
            )
        }
        if found:
            missing += [f"{table.schema}.{table.name}.{c.name}" for c in table.columns
                        if c.name not in found]  # fmt: skip
    return missing


async def drop_tables(conn: DbConnection, tables: Iterable[Table]) -> None:
    """Drop declared tables (a read model about to be rebuilt from the log)."""
    for table in tables:
        await conn.execute(str(DropTable(table, if_exists=True).compile(dialect=_DIALECT)))
