"""The directory read model: territories, agreements, schools, interveners."""

from __future__ import annotations

from sexto_events.catalogue.directory import (
    AgreementRecorded,
    IntervenerCertified,
    SchoolRegistered,
    TerritoryRegistered,
)
from sexto_events.consumer import ReadModel
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent
from sexto_events.stream import StreamSpec

from sexto_intake.tables import DIRECTORY

DIRECTORY_STREAM = StreamSpec(name="DIRECTORY", subject_root="directory")


class DirectoryProjection(ReadModel):
    """Applies directory events to the intake schema."""

    name = "directory"
    tables = DIRECTORY
    stream = DIRECTORY_STREAM

    async def migrate(self, conn: DbConnection) -> None:
        """Create the tables if missing; a territories table made before jurisdictions were
        declared gains the column, at the default its v1 events upcast to."""
        await super().migrate(conn)
        await conn.execute(
            "ALTER TABLE intake.dir_territories "
            "ADD COLUMN IF NOT EXISTS jurisdiction text NOT NULL DEFAULT 'qc'"
        )

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if isinstance(data, TerritoryRegistered):
            await conn.execute(
                "INSERT INTO intake.dir_territories (territory_id, name, jurisdiction) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                data.territory_id,
                data.name,
                data.jurisdiction.value,
            )
        elif isinstance(data, AgreementRecorded):
            await conn.execute(
                "INSERT INTO intake.dir_agreements (agreement_id, territory_id, signed_on, "
                "in_force_from, in_force_to) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT DO NOTHING",
                data.agreement_id,
                data.territory_id,
                data.signed_on,
                data.in_force_from,
                data.in_force_to,
            )
        elif isinstance(data, SchoolRegistered):
            await conn.execute(
                "INSERT INTO intake.dir_schools (school_id, name, territory_id, language) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                data.school_id,
                data.name,
                data.territory_id,
                data.language.value,
            )
        elif isinstance(data, IntervenerCertified):
            # A later certification (e.g. Explorer, then Architect) raises the level; the
            # intervener has been certified since the first one at the same school (a case
            # discovered in between stays eligible). Another school starts afresh.
            await conn.execute(
                "INSERT INTO intake.dir_interveners (intervener_id, school_id, level, "
                "certified_on) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (intervener_id) DO UPDATE SET school_id = excluded.school_id, "
                "level = excluded.level, certified_on = CASE WHEN "
                "intake.dir_interveners.school_id = excluded.school_id THEN LEAST("
                "intake.dir_interveners.certified_on, excluded.certified_on) "
                "ELSE excluded.certified_on END",
                data.intervener_id,
                data.school_id,
                data.level.value,
                data.certified_on,
            )
