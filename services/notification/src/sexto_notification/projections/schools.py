"""Schools from the directory: their territory, name and language (for parents' e-mail)."""

from __future__ import annotations

from sexto_events.catalogue.directory import SchoolRegistered
from sexto_events.consumer import ReadModel
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent
from sexto_events.stream import StreamSpec

from sexto_notification.tables import SCHOOLS

# The same stream the intake service keeps the directory on (it is the writer).
DIRECTORY_STREAM = StreamSpec(name="DIRECTORY", subject_root="directory")


class Schools(ReadModel):
    """Applies SchoolRegistered to notification.schools."""

    name = "schools"
    tables = SCHOOLS
    stream = DIRECTORY_STREAM

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if isinstance(data, SchoolRegistered):
            await conn.execute(
                "INSERT INTO notification.schools (school_id, name, territory, language) "
                "VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (school_id) DO UPDATE SET name = $2, territory = $3, language = $4",
                data.school_id,
                data.name,
                data.territory_id,
                data.language.value,
            )
