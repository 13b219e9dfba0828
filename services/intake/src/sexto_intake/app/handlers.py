"""Thin async handlers: load what the decision needs, decide, append."""

from __future__ import annotations

import hashlib
import json
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
from sexto_events.model import CaseRef, LoadedCase, NewEvent
from sexto_events.principal import SCHOOL_ROLES, CaseScope, Principal, Role, can_see_case
from sexto_service.runtime import ServiceRuntime

from sexto_intake.domain.cases import ReportCase, School, decide_report, report_case_id
from sexto_intake.domain.eligibility import Agreement, Certification
from sexto_intake.domain.errors import (
    AlreadyRegistered,
    CaseNotFound,
    Forbidden,
    IdempotencyKeyReused,
    UnknownSchool,
)
from sexto_intake.domain.facts import decide_fact
from sexto_intake.domain.state import CaseState, evolve
from sexto_intake.projections.directory import DIRECTORY_STREAM
from sexto_intake.tables import cases

__all__ = ["Forbidden"]

IDEMPOTENCY_DDL = """
CREATE TABLE IF NOT EXISTS intake.idempotency (
    caller       text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    case_id      text NOT NULL,
    territory    text NOT NULL,
    event_id     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, key)
);
"""


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


def request_digest(payload: Any) -> str:
    """The SHA-256 of a request body's canonical JSON: what an Idempotency-Key is bound to."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """A recorded report: the case, its first event, and whether this was a replay."""

    case: CaseRef
    report: CaseReported
    seq: int
    reported_at: datetime
    replayed: bool


async def handle_report_case(
    runtime: ServiceRuntime, principal: Principal, command: ReportCase, key: str, digest: str
) -> ReportOutcome:
    """Record a reported case, or find the one a retry of the same request recorded.

    `digest` identifies the request as sent (the same key with another body is refused).
    """
    school_id = command.report.school_id
    if principal.role not in SCHOOL_ROLES:
        raise Forbidden("only school staff (intervener, safeguarding lead) report cases")
    if principal.school_id != school_id:
        raise Forbidden(f"your token's scope is school {principal.school_id}, not this school")
    async with runtime.pool.acquire() as conn:
        seen = await conn.fetchrow(
            "SELECT request_hash, event_id FROM intake.idempotency WHERE caller = $1 AND key = $2",
            principal.subject,
            key,
        )
        school = await _school_on(conn, school_id)
        facts = await _facts(conn, school, principal.subject) if school else ([], None)
    if seen is not None and seen["request_hash"] != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request: use a new key "
            "for a new report, or resend the first request unchanged"
        )
    if school is None:
        raise UnknownSchool(
            f"school {school_id} is not in the directory: check the id, or ask an "
            "administrator to register it"
        )
    case = CaseRef(school.territory_id, report_case_id(principal.subject, key))
    if seen is not None:
        replayed = await _replayed(runtime, case)
        if replayed is not None:
            return replayed
        # The key was claimed but the append never landed (it failed): record it now,
        # with the event id the first attempt chose.
    now = datetime.now(UTC)
    event = decide_report(
        command, school=school, agreements=facts[0], certification=facts[1], now=now
    )
    event_id = (
        str(seen["event_id"])
        if seen is not None
        else await claim_key(runtime, principal, key, digest, case, str(uuid_utils.uuid7()))
    )
    recorded = NewEvent(
        event,
        principal.subject,
        principal.role.value,
        event_id=event_id,
        protocol_version=protocols.current(event.protocol.value).id,
        time=now,
    )

    def decide(_: None, loaded: LoadedCase) -> Decided:
        # A case id is new by construction: anything on it is this report, from a retry.
        return already_recorded(loaded, event_id) or [recorded]

    result = await execute(runtime.store, case, initial=None, evolve=no_state, decide=decide)
    if result.duplicate:
        replayed = await _replayed(runtime, case)
        assert replayed is not None
        return replayed
    return ReportOutcome(case, event, result.seqs[0], now, replayed=seen is not None)


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
    """Record a further fact on an open case; returns (event id, case version)."""
    row = await case_row(runtime, principal, case_id)
    if row is None:
        raise CaseNotFound("no case with this id in your scope")
    if principal.role not in SCHOOL_ROLES:
        raise Forbidden("only the school's staff record facts on a case")
    case = CaseRef(row["territory"], case_id)
    event_id = str(uuid_utils.uuid7())
    if key is not None:
        event_id = await _idempotent_event_id(runtime, principal, case, fact, key, event_id)

    def decide(state: CaseState, loaded: LoadedCase) -> Decided:
        done = already_recorded(loaded, event_id)
        if done is not None:
            return done  # a retry of a fact already recorded
        new = NewEvent(
            decide_fact(state, fact),
            principal.subject,
            principal.role.value,
            event_id=event_id,
            protocol_version=state.protocol_version or None,
        )
        return [new]

    result = await execute(runtime.store, case, initial=CaseState(), evolve=evolve, decide=decide)
    return event_id, result.version.seq


async def _idempotent_event_id(
    runtime: ServiceRuntime,
    principal: Principal,
    case: CaseRef,
    fact: EventData,
    key: str,
    fresh_id: str,
) -> str:
    request = [case.case_id, fact.type_name(), fact.model_dump(mode="json")]
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    return await claim_key(runtime, principal, key, digest, case, fresh_id)


async def claim_key(
    runtime: ServiceRuntime,
    principal: Principal,
    key: str,
    digest: str,
    case: CaseRef,
    event_id: str,
) -> str:
    """Bind (caller, key) to a request and its event id; a retry gets the first event id."""
    async with runtime.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO intake.idempotency (caller, key, request_hash, case_id, territory, "
            "event_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            principal.subject,
            key,
            digest,
            case.case_id,
            case.territory,
            event_id,
        )
        row = await conn.fetchrow(
            "SELECT request_hash, event_id FROM intake.idempotency WHERE caller = $1 AND key = $2",
            principal.subject,
            key,
        )
    assert row is not None  # inserted above or by the first request
    if row["request_hash"] != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request: use a new key "
            "for a new request, or resend the first one unchanged"
        )
    return str(row["event_id"])


async def case_row(
    runtime: ServiceRuntime, principal: Principal, case_id: str
) -> dict[str, Any] | None:
    """The case's read-model row if the caller may see it (None reads as 404)."""
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {column_names(cases)} FROM intake.cases WHERE case_id = $1", case_id
        )
    if row is None:
        return None
    scope = CaseScope(row["school_id"], row["territory"], row["escalated"])
    return dict(row) if can_see_case(principal, scope) else None


async def record_read(
    runtime: ServiceRuntime, principal: Principal, case: CaseRef, view: str
) -> None:
    """Put the read on the case's record (who, role, when, which view)."""
    await recording.record_read(runtime.store, principal, case, view, "intake")


async def register(
    runtime: ServiceRuntime, principal: Principal, data: EventData, territory: str, entity: str
) -> tuple[str, int]:
    """Record a directory entry (admins only); refuses one already registered."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("only administrators manage the directory")
    store = runtime.stores[DIRECTORY_STREAM.name]
    event = NewEvent(data, principal.subject, principal.role.value)

    def decide(_: None, loaded: LoadedCase) -> Decided:
        if loaded.events:
            raise AlreadyRegistered(f"{entity} is already registered in the directory")
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
        raise UnknownSchool(f"school {school_id} is not in the directory: register it first")
    return school.territory_id
