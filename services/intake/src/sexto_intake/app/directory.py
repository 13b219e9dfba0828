"""The directory as the read model holds it: what a new entry depends on, and the admins'
reads (territories, agreements, schools, interveners)."""

from __future__ import annotations

from typing import Any

from sexto_events.db import column_names
from sexto_events.model import CaseRef
from sexto_service.runtime import ServiceRuntime
from sqlalchemy import Table

from sexto_intake.domain.directory import Known
from sexto_intake.projections.directory import DIRECTORY_STREAM
from sexto_intake.tables import dir_agreements, dir_interveners, dir_schools, dir_territories

# Each kind of entry: its table and its id column.
KINDS: dict[str, tuple[Table, str]] = {
    "territory": (dir_territories, "territory_id"),
    "agreement": (dir_agreements, "agreement_id"),
    "school": (dir_schools, "school_id"),
    "intervener": (dir_interveners, "intervener_id"),
}


async def known(
    runtime: ServiceRuntime, kind: str, entity: str, territory_id: str | None = None
) -> Known:
    """Whether an entry of `kind` already has this id, and whether the territory it names is
    in the directory."""
    table, column = KINDS[kind]
    async with runtime.pool.acquire() as conn:
        taken = await conn.fetchval(
            f"SELECT 1 FROM intake.{table.name} WHERE {column} = $1", entity
        )
        territory = (
            await conn.fetchval(
                "SELECT 1 FROM intake.dir_territories WHERE territory_id = $1", territory_id
            )
            if territory_id is not None
            else True
        )
    if territory is None and territory_id is not None:
        # Registered a moment ago, the read model not there yet: the directory's own stream
        # holds it (an admin registers a territory, then its schools, at once).
        loaded = await runtime.stores[DIRECTORY_STREAM.name].load(
            CaseRef(territory_id, "territory")
        )
        territory = True if loaded.events else None
    return Known(entity, taken is not None, territory_id, territory is not None)


async def entries(runtime: ServiceRuntime, kind: str) -> list[dict[str, Any]]:
    """Every entry of a kind, by id."""
    table, column = KINDS[kind]
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {column_names(table)} FROM intake.{table.name} ORDER BY {column}"
        )
    return [dict(r) for r in rows]


async def entry(runtime: ServiceRuntime, kind: str, entity: str) -> dict[str, Any] | None:
    """One entry of a kind, or None."""
    table, column = KINDS[kind]
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {column_names(table)} FROM intake.{table.name} WHERE {column} = $1", entity
        )
    return dict(row) if row else None
