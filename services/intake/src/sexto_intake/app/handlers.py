"""Thin async handlers: load what the decision needs, decide, append."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sexto_protocols as protocols
import uuid_utils
from sexto_events import recording
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.directory import Jurisdiction
from sexto_events.catalogue.intake import CaseReported, PriorInvolvementNoted
from sexto_events.commands import Decided, already_recorded, execute, no_state
from sexto_events.db import DbConnection, column_names
from sexto_events.ids import derived_event_id
from sexto_events.messages import Message
from sexto_events.model import AppendResult, CaseRef, CaseVersion, LoadedCase, NewEvent
from sexto_events.personal import subject_id
from sexto_events.principal import CaseScope, Principal, can_see_case
from sexto_service.runtime import ServiceRuntime

from sexto_intake.domain.cases import ReportCase, School, decide_report, report_case_id
from sexto_intake.domain.custody import check_secured_in_past
from sexto_intake.domain.directory import Known, decide_entry
from sexto_intake.domain.eligibility import Agreement, Certification
from sexto_intake.domain.errors import (
    AlreadyRegistered,
    CaseNotFound,
    Forbidden,
    UnknownSchool,
)
from sexto_intake.domain.facts import decide_fact
from sexto_intake.domain.recognition import (
    blind_index,
    decide_prior_involvement,
    index_key_id,
)
from sexto_intake.domain.state import CaseState, evolve
from sexto_intake.projections.directory import DIRECTORY_STREAM
from sexto_intake.tables import cases

__all__ = ["Forbidden"]


async def _school(runtime: ServiceRuntime, school_id: str) -> School | None:
    async with runtime.pool.acquire() as conn:
        return await _school_on(conn, school_id)


async def _school_on(conn: DbConnection, school_id: str) -> School | None:
    row = await conn.fetchrow(
        "SELECT s.school_id, s.territory_id, s.language, t.jurisdiction "
        "FROM intake.dir_schools s JOIN intake.dir_territories t USING (territory_id) "
        "WHERE s.school_id = $1",
        school_id,
    )
    return None if row is None else _school_of(row)


def _school_of(row: asyncpg.Record) -> School:
    """A school from a row of the directory (its territory's jurisdiction joined)."""
    return School(
        row["school_id"], row["territory_id"], row["language"], Jurisdiction(row["jurisdiction"])
    )


_REPORT_FACTS = (
    "SELECT s.school_id, s.territory_id, s.language, t.jurisdiction, "
    "ARRAY(SELECT ROW(a.agreement_id, a.in_force_from, a.in_force_to) "
    "FROM intake.dir_agreements a WHERE a.territory_id = s.territory_id "
    "ORDER BY a.agreement_id) AS agreements, "
    "i.school_id AS cert_school, i.level AS cert_level, i.certified_on AS cert_on "
    "FROM intake.dir_schools s JOIN intake.dir_territories t USING (territory_id) "
    "LEFT JOIN intake.dir_interveners i ON i.intervener_id = $2 "
    "WHERE s.school_id = $1"
)


async def _report_facts(
    conn: DbConnection, school_id: str, intervener_id: str
) -> tuple[School, list[Agreement], Certification | None] | None:
    """The school, its territory's agreements and the reporter's training, in one round
    trip (a report's path is the busiest); None for a school the directory lacks."""
    row = await conn.fetchrow(_REPORT_FACTS, school_id, intervener_id)
    if row is None:
        return None
    school = _school_of(row)
    agreements = [Agreement(*agreement) for agreement in row["agreements"]]
    certification = (
        Certification(row["cert_school"], row["cert_level"], row["cert_on"])
        if row["cert_level"] is not None
        else None
    )
    return school, agreements, certification


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """A recorded report: the case, its first event, the case's version, whether this was a
    replay, and how many earlier cases each student seen before was involved in."""

    case: CaseRef
    report: CaseReported
    seq: int
    reported_at: datetime
    replayed: bool
    earlier_cases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recognition:
    """Students of a case whose school gave their student number: their blind indexes, and
    how many earlier cases of the territory each index names."""

    territory: str
    indexes: Mapping[str, str]  # student ref -> blind index
    earlier: Mapping[str, int]  # student ref -> earlier cases

    def noted(self) -> list[PriorInvolvementNoted]:
        """The warnings to record on the case."""
        return decide_prior_involvement(self.earlier)


async def recognise(
    runtime: ServiceRuntime, territory: str, case_id: str, numbers: Mapping[str, str]
) -> Recognition:
    """Index the given student numbers under the territory's key and count, per student,
    the earlier cases (other than this one) whose index is the same."""
    if not numbers:
        return Recognition(territory, {}, {})
    key_id = index_key_id(territory)
    keys, _ = await runtime.vault.keys_for_writing([key_id])
    key = keys[key_id]
    indexes = {ref: blind_index(key, number) for ref, number in numbers.items()}
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT blind_index, count(DISTINCT case_id) AS n FROM intake.student_index "
            "WHERE territory = $1 AND blind_index = ANY($2::text[]) AND case_id <> $3 "
            "GROUP BY blind_index",
            territory,
            sorted(set(indexes.values())),
            case_id,
        )
    counts = {r["blind_index"]: int(r["n"]) for r in rows}
    earlier = {ref: counts[index] for ref, index in indexes.items() if counts.get(index)}
    return Recognition(territory, indexes, earlier)


async def remember(runtime: ServiceRuntime, recognition: Recognition, case_id: str) -> None:
    """Put the case's students in the index, once their case is on the record (a retry
    puts them again, changing nothing)."""
    if not recognition.indexes:
        return
    now = datetime.now(UTC)
    rows = [
        (recognition.territory, index, case_id, ref, subject_id("student", case_id, ref), now)
        for ref, index in recognition.indexes.items()
    ]
    async with runtime.pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO intake.student_index (territory, blind_index, case_id, student_ref, "
            "subject_key, recorded_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            rows,
        )


async def handle_report_case(
    runtime: ServiceRuntime,
    principal: Principal,
    command: ReportCase,
    key: str,
    numbers: Mapping[str, str] | None = None,
) -> ReportOutcome:
    """Record a reported case, or find the one an earlier attempt with this key recorded.

    The case id derives from (caller, key): whatever a retry finds on it is this report.
    (Replaying the first answer is the HTTP edge's Idempotency-Key mechanism.) `numbers`
    are the school's student numbers by student ref: a student found in an earlier case of
    the territory is noted on this one (intake.prior_involvement_noted), never the number.
    """
    school_id = command.report.school_id
    if principal.school_id != school_id:
        raise Forbidden(Message("other-school", school=principal.school_id))
    async with runtime.pool.acquire() as conn:
        found = await _report_facts(conn, school_id, principal.actor)
    if found is None:
        raise UnknownSchool(Message("unknown-school", school=school_id))
    school, agreements, certification = found
    case = CaseRef(school.territory_id, report_case_id(principal.actor, key))
    now = datetime.now(UTC)
    event = decide_report(
        command, school=school, agreements=agreements, certification=certification, now=now
    )
    known = {s.student_ref for s in event.students}
    recognition = await recognise(
        runtime,
        case.territory,
        case.case_id,
        {ref: number for ref, number in (numbers or {}).items() if ref in known},
    )
    version = protocols.current(event.protocol.value).id
    recorded = [
        NewEvent(data, principal.actor, principal.role.value, protocol_version=version, time=now)
        for data in (event, *recognition.noted())
    ]

    def decide(_: None, loaded: LoadedCase) -> Decided:
        # A case id is new by construction: anything on it is this report, from a retry.
        if loaded.events:
            first = loaded.events[0]
            version = CaseVersion(first.seq, first.envelope.hash)
            return AppendResult(version, [first.id], [first.seq], duplicate=True)
        return recorded

    result = await execute(runtime.store, case, initial=None, evolve=no_state, decide=decide)
    await remember(runtime, recognition, case.case_id)
    if result.duplicate:
        replayed = await _replayed(runtime, case)
        assert replayed is not None
        return replayed
    return ReportOutcome(
        case, event, result.version.seq, now, replayed=False, earlier_cases=recognition.earlier
    )


async def _replayed(runtime: ServiceRuntime, case: CaseRef) -> ReportOutcome | None:
    events = (await runtime.store.load(case)).events
    if not events:
        return None
    first = events[0]
    assert isinstance(first.data, CaseReported)
    # The report and the warnings noted with it were appended together.
    noted = {
        e.data.student_ref: e.data.earlier_cases
        for e in events
        if isinstance(e.data, PriorInvolvementNoted) and e.envelope.time == first.envelope.time
    }
    last = max([first.seq, *(e.seq for e in events if e.envelope.time == first.envelope.time)])
    return ReportOutcome(
        case, first.data, last, first.envelope.time_dt, replayed=True, earlier_cases=noted
    )


async def handle_fact(
    runtime: ServiceRuntime,
    principal: Principal,
    case_id: str,
    fact: EventData,
    key: str | None,
    numbers: Mapping[str, str] | None = None,
) -> tuple[str, int]:
    """Record a further fact on an open case; returns (event id, case version).

    With an Idempotency-Key the fact's id derives from (case, caller, key): a retry whose
    first answer was lost finds its fact on the record and records nothing. `numbers`
    (a student added, by ref) are recognised as at a report.
    """
    case = await case_to_write(runtime, principal, case_id)
    check_secured_in_past(fact, datetime.now(UTC))
    recognition = await recognise(runtime, case.territory, case_id, numbers or {})
    fresh_ids = [str(uuid_utils.uuid7()) for _ in range(1 + len(recognition.earlier))]

    def decide(state: CaseState, loaded: LoadedCase) -> Decided:
        ids = fresh_ids
        if key is not None and loaded.events:
            first = derived_event_id(loaded.events[0].id, f"fact|{principal.actor}|{key}")
            done = already_recorded(loaded, first)
            if done is not None:
                return done  # a retry of a fact already recorded
            ids = [first] + [
                derived_event_id(first, f"noted|{i}") for i in range(1, len(fresh_ids))
            ]
        decided: Sequence[EventData] = (decide_fact(state, fact), *recognition.noted())
        return [
            NewEvent(
                data,
                principal.actor,
                principal.role.value,
                event_id=event_id,
                protocol_version=state.protocol_version or None,
            )
            for data, event_id in zip(decided, ids, strict=True)
        ]

    result = await execute(runtime.store, case, initial=CaseState(), evolve=evolve, decide=decide)
    await remember(runtime, recognition, case_id)
    return result.event_ids[0], result.version.seq


# How long a read naming the version of one's own write waits for the read model.
READ_YOUR_WRITES_S = 2.0


CASE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def case_to_write(runtime: ServiceRuntime, principal: Principal, case_id: str) -> CaseRef:
    """The case a school's staff records a fact on, else CaseNotFound. The read model says
    where it is; a case reported a moment ago, not there yet, is found on the log itself in
    the territory of the caller's school (write right after the 201, no wait, no 404)."""
    row = await case_row(runtime, principal, case_id)
    if row is not None:
        return CaseRef(row["territory"], case_id)
    if principal.school_id is not None and CASE_ID.fullmatch(case_id):
        school = await _school(runtime, principal.school_id)
        if school is not None:
            case = CaseRef(school.territory_id, case_id)
            loaded = await runtime.store.load(case)
            report = loaded.events[0].data if loaded.events else None
            if isinstance(report, CaseReported) and report.school_id == principal.school_id:
                return case
    raise CaseNotFound(Message("case-not-found"))


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
            principal,
            CaseScope(row["school_id"], row["territory"], row["escalated"], row["protocol"]),
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
    runtime: ServiceRuntime,
    principal: Principal,
    data: EventData,
    territory: str,
    entity: str,
    known: Known | None = None,
) -> tuple[str, int]:
    """Record a directory entry; refuses one already registered, or one naming what the
    directory does not hold (`known`, as the directory read model has it)."""
    store = runtime.stores[DIRECTORY_STREAM.name]
    recorded = decide_entry(data, known or Known(entity, taken=False))
    event = NewEvent(recorded, principal.actor, principal.role.value)

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
