"""The directory read model: territories, agreements, schools, interveners."""

from __future__ import annotations

from sexto_events.catalogue.directory import (
    AgreementRecorded,
    IntervenerCertified,
    SchoolRegistered,
    TerritoryRegistered,
)
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent
from sexto_events.stream import StreamSpec

DIRECTORY_STREAM = StreamSpec(name="DIRECTORY", subject_root="directory")

_DDL = """
CREATE TABLE IF NOT EXISTS intake.dir_territories (
    territory_id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS intake.dir_agreements (
    agreement_id text PRIMARY KEY, territory_id text NOT NULL, signed_on date NOT NULL,
    in_force_from date NOT NULL, in_force_to date);
CREATE TABLE IF NOT EXISTS intake.dir_schools (
    school_id text PRIMARY KEY, name text NOT NULL, territory_id text NOT NULL,
    language text NOT NULL);
CREATE TABLE IF NOT EXISTS intake.dir_interveners (
    intervener_id text PRIMARY KEY, school_id text NOT NULL, level text NOT NULL,
    certified_on date NOT NULL);
"""


class DirectoryProjection:
    """Applies directory events to the intake schema."""

    name = "directory"
    stream = DIRECTORY_STREAM

    async def migrate(self, conn: DbConnection) -> None:
        await conn.execute(_DDL)

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if isinstance(data, TerritoryRegistered):
            await conn.execute(
                "INSERT INTO intake.dir_territories VALUES ($1, $2) ON CONFLICT DO NOTHING",
                data.territory_id,
                data.name,
            )
        elif isinstance(data, AgreementRecorded):
            await conn.execute(
                "INSERT INTO intake.dir_agreements VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT DO NOTHING",
                data.agreement_id,
                data.territory_id,
                data.signed_on,
                data.in_force_from,
                data.in_force_to,
            )
        elif isinstance(data, SchoolRegistered):
            await conn.execute(
                "INSERT INTO intake.dir_schools VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                data.school_id,
                data.name,
                data.territory_id,
                data.language.value,
            )
        elif isinstance(data, IntervenerCertified):
            # A later certification (e.g. Explorer, then Architect) replaces the earlier.
            await conn.execute(
                "INSERT INTO intake.dir_interveners VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (intervener_id) DO UPDATE SET school_id = excluded.school_id, "
                "level = excluded.level, certified_on = excluded.certified_on",
                data.intervener_id,
                data.school_id,
                data.level.value,
                data.certified_on,
            )

    async def drop(self, conn: DbConnection) -> None:
        await conn.execute(
            "DROP TABLE IF EXISTS intake.dir_territories, intake.dir_agreements, "
            "intake.dir_schools, intake.dir_interveners"
        )
