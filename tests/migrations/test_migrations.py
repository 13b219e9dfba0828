"""Tables declared once: what start-up creates is what the declarations say, and the tables
not derived from the log reach their head revision from a fresh database and from one made
before migrations, keeping its rows."""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_escalation.bootstrap import DEFINITION as ESCALATION
from sexto_escalation.tables import READ_MODELS as ESCALATION_TABLES
from sexto_evaluation.bootstrap import DEFINITION as EVALUATION
from sexto_evaluation.tables import READ_MODELS as EVALUATION_TABLES
from sexto_events.consumer import ReadModel
from sexto_events.migrate import RUNTIME_VERSION_TABLE, VERSION_TABLE
from sexto_events.store import EventStore
from sexto_events.tables import KEYS, RUNTIME, runtime_tables
from sexto_intake.bootstrap import DEFINITION as INTAKE
from sexto_intake.tables import MIGRATED as INTAKE_MIGRATED
from sexto_intake.tables import READ_MODELS as INTAKE_TABLES
from sexto_notification.bootstrap import DEFINITION as NOTIFICATION
from sexto_notification.tables import MIGRATED as NOTIFICATION_MIGRATED
from sexto_notification.tables import READ_MODELS as NOTIFICATION_TABLES
from sexto_service.idempotency import IDEMPOTENCY_VERSION_TABLE, idempotency_table
from sexto_service.runtime import ServiceDefinition, migrate_service
from sqlalchemy import Connection, MetaData, NullPool
from sqlalchemy.ext.asyncio import create_async_engine

from tests.migrations import before

ROOT = Path(__file__).resolve().parents[2]

# Each service with every table it declares.
SERVICES: list[tuple[ServiceDefinition, list[MetaData]]] = [
    (INTAKE, [INTAKE_MIGRATED, INTAKE_TABLES]),
    (EVALUATION, [EVALUATION_TABLES]),
    (ESCALATION, [ESCALATION_TABLES]),
    (NOTIFICATION, [NOTIFICATION_MIGRATED, NOTIFICATION_TABLES]),
]


def declared(name: str) -> list[MetaData]:
    """Every declaration of tables in a service's schema: its own and the runtime's."""
    own = next(tables for definition, tables in SERVICES if definition.name == name)
    return [*own, runtime_tables(name), idempotency_table(name).metadata]


@pytest.fixture
async def database(postgres: EmbeddedPostgres, pool: asyncpg.Pool) -> str:
    """The address of a database of its own, empty."""
    name = f"m_{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres.dsn.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database)
    yield connection
    await connection.close()


async def start_up(database: str, store: EventStore) -> None:
    """What each service's start-up does to the database: migrate, then its read models."""
    for definition, _ in SERVICES:
        await migrate_service(definition, database)
        connection = await asyncpg.connect(database)
        try:
            for handler in (*definition.read_models(), *definition.reactors(store)):
                # As DurableConsumer.setup: a read model of an older shape is dropped (and
                # rebuilt from the log by its consumer), then made as declared.
                if isinstance(handler, ReadModel) and await handler.outdated(connection):
                    await handler.drop(connection)
                await handler.migrate(connection)
        finally:
            await connection.close()


def _compare(connection: Connection, metadata: MetaData) -> list[Any]:
    schemas = {table.schema for table in metadata.tables.values()}
    names = {table.name for table in metadata.tables.values()}

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        if type_ == "schema":
            return name in schemas
        if type_ == "table":
            return name in names
        return True

    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "compare_server_default": True,
        },
    )
    return list(compare_metadata(context, metadata))


async def differences(database: str, metadata: MetaData) -> list[Any]:
    """What Alembic would change to make the database match a declaration (nothing, here)."""
    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=functools.partial(asyncpg.connect, database),
        poolclass=NullPool,
    )
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare, metadata)
    finally:
        await engine.dispose()


async def tables_in(conn: asyncpg.Connection, schema: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    return {row["table_name"] for row in rows}


SCHEMAS = ["sexto_keys", *(definition.name for definition, _ in SERVICES)]


async def shape(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Columns, constraints and indexes of every table of ours but the version tables."""
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            "SELECT table_schema, table_name, column_name, data_type, udt_name, is_nullable, "
            "column_default FROM information_schema.columns WHERE table_schema = ANY($1) "
            "AND table_name NOT LIKE 'alembic_version%' ORDER BY 1, 2, 3",
            SCHEMAS,
        )
        constraints = await conn.fetch(
            "SELECT n.nspname, t.relname, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = ANY($1) "
            "AND t.relname NOT LIKE 'alembic_version%' ORDER BY 1, 2, 3",
            SCHEMAS,
        )
        indexes = await conn.fetch(
            "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = ANY($1) AND tablename NOT LIKE 'alembic_version%' "
            "ORDER BY 1, 2, 3",
            SCHEMAS,
        )
    finally:
        await conn.close()
    return {
        "columns": [tuple(r) for r in columns],
        "constraints": [tuple(r) for r in constraints],
        "indexes": [tuple(r) for r in indexes],
    }


async def rows_of(conn: asyncpg.Connection, table: str) -> list[dict[str, Any]]:
    return [dict(row) for row in await conn.fetch(f"SELECT * FROM {table}")]


async def make_before(conn: asyncpg.Connection) -> None:
    """A database as the DDL of before made it."""
    await conn.execute(before.KEYS)
    for definition, _ in SERVICES:
        await conn.execute(before.RUNTIME.format(schema=definition.name))
    await conn.execute(before.INTAKE + before.EVALUATION + before.ESCALATION)
    await conn.execute(before.NOTIFICATION + before.NOTIFICATION_SCHOOLS)


async def versions(conn: asyncpg.Connection) -> dict[str, str]:
    """Each version table and its revision."""
    found = {}
    for schema in ("sexto_keys", *(d.name for d, _ in SERVICES)):
        for table in (VERSION_TABLE, RUNTIME_VERSION_TABLE, IDEMPOTENCY_VERSION_TABLE):
            if await conn.fetchval("SELECT to_regclass($1)", f"{schema}.{table}") is not None:
                found[f"{schema}.{table}"] = await conn.fetchval(
                    f"SELECT version_num FROM {schema}.{table}"
                )
    return found


HEAD = {
    "sexto_keys.alembic_version": "0003",
    "intake.alembic_version_runtime": "0001",
    "evaluation.alembic_version_runtime": "0001",
    "escalation.alembic_version_runtime": "0001",
    "notification.alembic_version_runtime": "0001",
    "notification.alembic_version": "0002",
    "intake.alembic_version": "0001",
    **{f"{d.name}.{IDEMPOTENCY_VERSION_TABLE}": "0001" for d, _ in SERVICES},
}


async def test_start_up_creates_exactly_the_declared_tables_of_each_schema(
    database: str, conn: asyncpg.Connection, store: EventStore
) -> None:
    await start_up(database, store)

    keys = {t.name for t in KEYS.sorted_tables}
    assert await tables_in(conn, "sexto_keys") == keys | {VERSION_TABLE}
    for definition, _ in SERVICES:
        names = {t.name for metadata in declared(definition.name) for t in metadata.sorted_tables}
        version_tables = {RUNTIME_VERSION_TABLE, IDEMPOTENCY_VERSION_TABLE} | (
            {VERSION_TABLE} if definition.migrations else set()
        )
        assert await tables_in(conn, definition.name) == names | version_tables
        for metadata in declared(definition.name):
            assert await differences(database, metadata) == []
    assert await differences(database, KEYS) == []
    assert await versions(conn) == HEAD


async def test_each_table_is_declared_in_one_place_only() -> None:
    seen: dict[str, str] = {}
    everything = [("sexto_events", KEYS), ("sexto_events", RUNTIME)]
    everything += [(d.name, m) for d, tables in SERVICES for m in tables]
    everything += [(d.name, idempotency_table(d.name).metadata) for d, _ in SERVICES]
    for owner, metadata in everything:
        for table in metadata.sorted_tables:
            assert table.fullname not in seen, f"{table.fullname} declared twice"
            seen[table.fullname] = owner
    # No module spells a table by hand any more.
    allowed: set[Path] = set()
    ddl = re.compile(r"CREATE\s+(UNIQUE\s+)?(TABLE|INDEX)", re.IGNORECASE)
    spelled = [
        path.relative_to(ROOT)
        for folder in ("libs", "services", "apps")
        for path in (ROOT / folder).rglob("*.py")
        if ddl.search(path.read_text()) and path.relative_to(ROOT) not in allowed
    ]
    assert spelled == []


async def test_migrations_from_a_fresh_database_reach_the_head_when_services_start_together(
    database: str, conn: asyncpg.Connection
) -> None:
    # Services start concurrently: the DDL lock lets one migrate while the others wait.
    await asyncio.gather(*(migrate_service(d, database) for d, _ in SERVICES for _ in range(2)))

    assert await versions(conn) == HEAD
    assert await differences(database, KEYS) == []
    assert await differences(database, NOTIFICATION_MIGRATED) == []
    for definition, _ in SERVICES:
        assert await differences(database, runtime_tables(definition.name)) == []


async def test_a_database_made_before_migrations_upgrades_in_place_keeping_its_rows(
    database: str, conn: asyncpg.Connection, store: EventStore
) -> None:
    await make_before(conn)
    await conn.execute(
        "INSERT INTO sexto_keys.subject_keys (subject, wrapped_key, kek_id) "
        "VALUES ('case:c1', '\\x00'::bytea, 'k1');"
        "INSERT INTO sexto_keys.shredded_subjects (subject) VALUES ('case:c0');"
        "INSERT INTO notification.projection_checkpoints (consumer, case_key, last_seq, "
        "last_hash) VALUES ('notification-dispatch', 't/c1', 7, 'h7');"
        "INSERT INTO notification.dead_letters (consumer, stream_seq, subject, error_type, "
        "error, deliveries) VALUES ('notification-dispatch', 5, 'cases.t.c1.x.y', 'E', 'e', 5);"
        "INSERT INTO notification.subscriptions (id, url, types, secret, owner_subject, "
        "owner_role, from_seq) VALUES ('sub_1', 'https://x.test', '{a}', '\\x01'::bytea, "
        "'p1', 'admin', 3);"
        "INSERT INTO notification.deliveries (id, case_id, territory, seq, event_id, "
        "event_type, event_time, correlation_id, channel, target, recipient_kind, template) "
        "VALUES ('d1', 'c1', 't', 7, 'e1', 'x.y', now(), 'c', 'webhook', 'sub_1', "
        "'subscription', 'cloudevents-json/v1');"
    )
    kept = (
        "sexto_keys.subject_keys",
        "sexto_keys.shredded_subjects",
        "notification.projection_checkpoints",
        "notification.dead_letters",
        "notification.subscriptions",
        "notification.deliveries",
    )
    rows = {table: await rows_of(conn, table) for table in kept}
    # Dropped by notification's 0002: the subscriptions' own key, replaced by the one
    # Idempotency-Key mechanism of every service (sexto_service.idempotency).
    for row in rows["notification.subscriptions"]:
        assert row.pop("idempotency_key") is None

    await start_up(database, store)

    assert {table: await rows_of(conn, table) for table in kept} == rows
    assert all(rows.values())
    assert await versions(conn) == HEAD
    # The declarations are the tables the old DDL made, column for column.
    assert await differences(database, KEYS) == []
    for definition, _ in SERVICES:
        for metadata in declared(definition.name):
            assert await differences(database, metadata) == []


async def test_a_fresh_start_up_makes_exactly_the_tables_of_before(
    database: str, conn: asyncpg.Connection, store: EventStore
) -> None:
    await make_before(conn)
    fresh = f"{database}_fresh"
    await conn.execute(f'CREATE DATABASE "{database.rsplit("/", 1)[1]}_fresh"')

    made_before = await shape(database)

    await start_up(fresh, store)
    await start_up(database, store)

    # Column for column, constraint for constraint, index for index (partial ones too): a
    # database made before and upgraded is one made fresh; the upgrade changed only what
    # the revisions since 0001 say.
    upgraded = await shape(database)
    assert all(made_before.values())
    assert await shape(fresh) == upgraded
    # New since: the Idempotency-Key records, intake's index of students seen before, and
    # the escalation queue's lifecycle.
    assert (
        set(upgraded["columns"]) - set(made_before["columns"])
        == {
            column
            for column in upgraded["columns"]
            if column[1] in ("idempotency_keys", "student_index")
            or column[:3] == ("intake", "dir_territories", "jurisdiction")
            # Issue 19: the shred epoch that makes cached keys stale in every process.
            or column[:2] == ("sexto_keys", "shred_epoch")
            # Issue 14: the queue keeps each case's lifecycle; a read model of the older shape
            # is rebuilt from the log at start-up.
            or column[:3]
            in {
                ("escalation", "case_scope", "lifecycle"),
                ("intake", "cases", "lifecycle"),
                ("escalation", "escalations", "most_urgent"),
            }
        }
    )
    assert {c[:3] for c in set(made_before["columns"]) - set(upgraded["columns"])} == {
        ("notification", "subscriptions", "idempotency_key")
    }
