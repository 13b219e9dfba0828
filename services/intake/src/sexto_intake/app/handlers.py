"""Thin async handlers: load what the decision needs, decide, append."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sexto_protocols as protocols
import uuid_utils
from sexto_events import recording
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import CaseReported
from sexto_events.commands import Decided, already_recorded, execute, no_state
from sexto_events.db import DbConnection, column_names
from sexto_events.ids import derived_event_id
from sexto_events.messages import Message
from sexto_events.model import AppendResult, CaseRef, CaseVersion, LoadedCase, NewEvent
from sexto_events.principal import CaseScope, Principal, can_see_case
from sexto_service.runtime import ServiceRuntime

from sexto_intake.domain.cases import ReportCase, School, decide_report, report_case_id
from sexto_intake.domain.eligibility import Agreement, Certification
from sexto_intake.domain.errors import (
    AlreadyRegistered,
    CaseNotFound,
    Forbidden,
    UnknownSchool,
)
from sexto_intake.domain.facts import decide_fact
from sexto_intake.domain.state import CaseState, evolve
from sexto_intake.projections.directory import DIRECTORY_STREAM
from sexto_intake.tables import cases

__all__ = ["Forbidden"]


async def _school(runtime: ServiceRuntime, school_id: str) -> School | None:
    async with runtime.pool.acquire() as conn:
        return await _school_on(conn, school_id)


async def _school_on(conn: DbConnection, school_id: str) -> School | None:
    row = await conn.fetchrow(
        "SELECT school_id, territory_id, language FROM intake.dir_schools WHERE school_id = $1",
        school_id,
    )
    return School(row["school_id"], row["territory_id"], row["language"]) if row else None


async def _facts(
    conn: DbConnection, school: School, intervener_id: str
) -> tuple[list[Agreement], Certification | None]:
    rows = await conn.fetch(
        "SELECT agreement_id, in_force_from, in_force_to FROM intake.dir_agreements "
        "WHERE territory_id = $1",
        school.territory_id,
    )
    cert = await conn.fetchrow(
        "SELECT school_id, level, certified_on FROM intake.dir_interveners "
        "WHERE intervener_id = $1",
        intervener_id,
    )
    agreements = [Agreement(r["agreement_id"], r["in_force_from"], r["in_force_to"]) for r in rows]
    certification = (
        Certification(cert["school_id"], cert["level"], cert["certified_on"]) if cert else None
    )
    return agreements, certification


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """A recorded report: the case, its first event, and whether this was a replay."""

    case: CaseRef
    report: CaseReported
    seq: int
    reported_at: datetime
    replayed: bool


async def handle_report_case(
    runtime: ServiceRuntime, principal: Principal, command: ReportCase, key: str
) -> ReportOutcome:
    """Record a reported case, or find the one an earlier attempt with this key recorded.

    The case id derives from (caller, key): whatever a retry finds on it is this report.
    (Replaying the first answer is the HTTP edge's Idempotency-Key mechanism.)
    """
    school_id = command.report.school_id
    if principal.school_id != school_id:
        raise Forbidden(Message("other-school", school=principal.school_id))
    async with runtime.pool.acquire() as conn:
        school = await _school_on(conn, school_id)
        facts = await _facts(conn, school, principal.actor) if school else ([], None)
    if school is None:
        raise UnknownSchool(Message("unknown-school", school=school_id))
    case = CaseRef(school.territory_id, report_case_id(principal.actor, key))
    now = datetime.now(UTC)
    event = decide_report(
        command, school=school, agreements=facts[0], certification=facts[1], now=now
    )
    recorded = NewEvent(
        event,
        principal.actor,
        principal.role.value,
        protocol_version=protocols.current(event.protocol.value).id,
        time=now,
    )

    def decide(_: None, loaded: LoadedCase) -> Decided:
        # A case id is new by construction: anything on it is this report, from a retry.
        if loaded.events:
            first = loaded.events[0]
            version = CaseVersion(first.seq, first.envelope.hash)
            return AppendResult(version, [first.id], [first.seq], duplicate=True)
        return [recorded]

    result = await execute(runtime.store, case, initial=None, evolve=no_state, decide=decide)
    if result.duplicate:
        replayed = await _replayed(runtime, case)
        assert replayed is not None
        return replayed
    return ReportOutcome(case, event, result.seqs[0], now, replayed=False)


async def _replayed(runtime: ServiceRuntime, case: CaseRef) -> ReportOutcome | None:
    events = (await runtime.store.load(case)).events
    if not events:
        return None
    first = events[0]
    assert isinstance(first.data, CaseReported)
    return ReportOutcome(case, first.data, first.seq, first.envelope.time_dt, replayed=True)


async def handle_fact(
    runtime: ServiceRuntime,
    principal: Principal,
    case_id: str,
    fact: EventData,
    key: str | None,
) -> tuple[str, int]:
    """Record a further fact on an open case; returns (event id, case version).

    With an Idempotency-Key the fact's id derives from (case, caller, key): a retry whose
    first answer was lost finds its fact on the record and records nothing.
    """
    row = await case_row(runtime, principal, case_id)
    if row is None:
        raise CaseNotFound(Message("case-not-found"))
    case = CaseRef(row["territory"], case_id)
    fresh_id = str(uuid_utils.uuid7())

    def decide(state: CaseState, loaded: LoadedCase) -> Decided:
        event_id = fresh_id
        if key is not None and loaded.events:
            event_id = derived_event_id(loaded.events[0].id, f"fact|{principal.actor}|{key}")
            done = already_recorded(loaded, event_id)
            if done is not None:
                return done  # a retry of a fact already recorded
        new = NewEvent(
            decide_fact(state, fact),
            principal.actor,
            principal.role.value,
            event_id=event_id,
            protocol_version=state.protocol_version or None,
        )
        return [new]

    result = await execute(runtime.store, case, initial=CaseState(), evolve=evolve, decide=decide)
    return result.event_ids[0], result.version.seq


# How long a read naming the version of one's own write waits for the read model.
READ_YOUR_WRITES_S = 2.0


async def case_row(
    runtime: ServiceRuntime, principal: Principal, case_id: str, min_version: int | None = None
) -> dict[str, Any] | None:
    """The case's read-model row if the caller may see it (None reads as 404).

    With `min_version` (the version a write of the caller answered), wait briefly for the
    read model to have applied it: whoever got a 201 reads their own write at once.
    """
    deadline = time.monotonic() + READ_YOUR_WRITES_S
    pause = 0.02
    while True:
        async with runtime.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {column_names(cases)} FROM intake.cases WHERE case_id = $1", case_id
            )
        # A case out of scope is treated exactly as a missing one, waiting included: how
        # long the answer takes must not tell whether another school's case exists.
        seen = row is not None and can_see_case(
            principal, CaseScope(row["school_id"], row["territory"], row["escalated"])
        )
        caught_up = min_version is None or (
            seen and row is not None and row["version"] >= min_version
        )
        if caught_up or time.monotonic() >= deadline:
            break
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)  # a handful of queries per waiting read, not a hundred
    return dict(row) if seen and row is not None else None


async def record_read(
    runtime: ServiceRuntime, principal: Principal, case: CaseRef, view: str
) -> None:
    """Put the read on the case's record (who, role, when, which view)."""
    await recording.record_read(runtime.store, principal, case, view, "intake")


async def register(
    runtime: ServiceRuntime, principal: Principal, data: EventData, territory: str, entity: str
) -> tuple[str, int]:
    """Record a directory entry; refuses one already registered."""
    store = runtime.stores[DIRECTORY_STREAM.name]
    event = NewEvent(data, principal.actor, principal.role.value)

    def decide(_: None, loaded: LoadedCase) -> Decided:
        if loaded.events:
            raise AlreadyRegistered(Message("already-registered", entity=entity))
        return [event]

    # A conflict here means another registration of the same entry landed first: deciding
    # again on what it wrote refuses this one.
    entry = CaseRef(territory, entity)
    result = await execute(store, entry, initial=None, evolve=no_state, decide=decide)
    return result.event_ids[0], result.seqs[0]


async def school_territory(runtime: ServiceRuntime, school_id: str) -> str:
    """The territory of a registered school."""
    school = await _school(runtime, school_id)
    if school is None:
        raise UnknownSchool(Message("unknown-school", school=school_id))
    return school.territory_id
