"""PostgreSQL connection pools, schema names, and the DDL of declared tables."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

DbConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection, whether opened directly or borrowed from a pool."""

_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def checked_schema(name: str) -> str:
    """A schema name safe to interpolate in DDL."""
    if not _SCHEMA.match(name):
        raise ValueError(f"schema name {name!r} must be lowercase letters, digits, '_'")
    return name


ConnectionReset: TypeAlias = Callable[[asyncpg.Connection], Awaitable[None]]
"""What a pool runs on a connection given back, before another borrows it."""


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, reset: ConnectionReset | None = None
) -> asyncpg.Pool:
    """An asyncpg pool; `reset` replaces asyncpg's reset query on a connection given back
    (asyncpg still rolls back an open transaction itself first)."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=reset)
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
