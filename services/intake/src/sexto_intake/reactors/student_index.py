"""Erasure reaches the index of students seen before: a student shredded (or a case erased
at the end of its retention) leaves the index, so no later case recognises them."""

from __future__ import annotations

from sexto_events.catalogue.legal import CaseErased, SubjectShredded
from sexto_events.db import DbConnection
from sexto_events.model import RecordedEvent


class StudentIndexErasure:
    """Deletes the index entries of the data subjects an erasure names.

    Not a projection: the index is not derived from the log (no event holds a student
    number), so it is never dropped nor rebuilt; replaying an erasure deletes nothing more.
    """

    name = "student-index"
    # Erasures only (cases.<territory>.<case>.legal.<event>): nothing else is fetched,
    # decoded (no personal data opened) nor checkpointed for it. Deleting what an erasure
    # names does not depend on the order of the case's events (runtime: not chained).
    subjects = "*.*.legal.>"

    async def migrate(self, conn: DbConnection) -> None:
        """The index is migrated with the service's own tables (migrations/tables)."""

    async def drop(self, conn: DbConnection) -> None:
        """Never dropped: it cannot be rebuilt from the log."""

    async def apply(self, event: RecordedEvent, conn: DbConnection) -> None:
        data = event.data
        if isinstance(data, SubjectShredded):
            keys = [data.subject_key]
        elif isinstance(data, CaseErased):
            keys = list(data.subject_keys)
        else:
            return
        await conn.execute(
            "DELETE FROM intake.student_index WHERE subject_key = ANY($1::text[])", keys
        )
