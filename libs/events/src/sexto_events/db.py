"""PostgreSQL connection pools and service schemas."""

from __future__ import annotations

import re
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

DbConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
"""A connection, whether opened directly or borrowed from a pool."""

_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def checked_schema(name: str) -> str:
    """A schema name safe to interpolate in DDL."""
    if not _SCHEMA.match(name):
        raise ValueError(f"schema name {name!r} must be lowercase letters, digits, '_'")
    return name


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
    assert pool is not None
    return pool


MIGRATION_LOCK = 0x5E7700


async def run_ddl(conn: DbConnection, ddl: str) -> None:
    """Run idempotent DDL under a cluster-wide lock (services start concurrently)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(ddl)


async def ensure_schema(pool: asyncpg.Pool, schema: str) -> None:
    """Create a service's own schema if missing."""
    async with pool.acquire() as conn:
        await run_ddl(conn, f"CREATE SCHEMA IF NOT EXISTS {checked_schema(schema)}")
