"""Versioned migrations (Alembic) of the tables not derived from the log, run at start-up.

Each owner of such tables (the key vault, the consumer runtime in a service's schema, a
service's own tables) has its scripts folder and its own version table in its own schema.
A migration runs on a connection of its own (SQLAlchemy's asyncpg dialect: the pool's
connections keep asyncpg's plain codecs), in one transaction under the cluster-wide DDL
lock: services start concurrently, the first to take the lock migrates, the others find
the head.
"""

from __future__ import annotations

import functools

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, NullPool, text
from sqlalchemy.ext.asyncio import create_async_engine

from sexto_events.db import MIGRATION_LOCK, checked_schema
from sexto_events.tables import KEY_SCHEMA

KEYS_SCRIPTS = "sexto_events:migrations/keys"
RUNTIME_SCRIPTS = "sexto_events:migrations/runtime"
VERSION_TABLE = "alembic_version"
RUNTIME_VERSION_TABLE = "alembic_version_runtime"


async def upgrade(
    dsn: str, scripts: str, *, schema: str, version_table: str = VERSION_TABLE
) -> None:
    """Bring one owner's tables to the head of `scripts` (`package:folder`)."""
    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=functools.partial(asyncpg.connect, dsn),
        poolclass=NullPool,
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": MIGRATION_LOCK}
            )
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {checked_schema(schema)}"))
            await conn.run_sync(_upgrade, scripts, schema, version_table)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, scripts: str, schema: str, version_table: str) -> None:
    config = Config()
    config.set_main_option("script_location", scripts)
    config.attributes.update(connection=connection, schema=schema, version_table=version_table)
    command.upgrade(config, "head")


def run_env() -> None:
    """What every migrations folder's env.py runs: online, on the connection `upgrade` gave."""
    attributes = context.config.attributes
    context.configure(
        connection=attributes["connection"],
        version_table=attributes["version_table"],
        version_table_schema=attributes["schema"],
    )
    with context.begin_transaction():
        context.run_migrations()


async def migrate_keys(dsn: str) -> None:
    """The personal-data key tables, at their head revision."""
    await upgrade(dsn, KEYS_SCRIPTS, schema=KEY_SCHEMA)


async def migrate_runtime(dsn: str, schema: str) -> None:
    """The consumer runtime's tables in a service's schema, at their head revision."""
    await upgrade(dsn, RUNTIME_SCRIPTS, schema=schema, version_table=RUNTIME_VERSION_TABLE)
