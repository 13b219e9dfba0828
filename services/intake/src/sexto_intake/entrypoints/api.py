"""The intake REST API: partners report and follow cases; admins keep the directory."""

from __future__ import annotations

import base64
import itertools
import json
import os
from datetime import datetime
from typing import Annotated, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from sexto_events.catalogue.directory import (
    AgreementRecorded,
    IntervenerCertified,
    SchoolRegistered,
    TerritoryRegistered,
)
from sexto_events.catalogue.intake import CaseReported, StudentInvolved
from sexto_events.db import column_names
from sexto_events.disclosure import Viewer, disclose
from sexto_events.envelope import disclose_event
from sexto_events.messages import Message
from sexto_events.model import CaseRef, RecordedEvent
from sexto_events.principal import SCHOOL_ROLES, Principal, Role, visibility
from sexto_events.refusals import CaseNotFound, NotFound
from sexto_protocols import lifecycle
from sexto_service.disclosure import viewer
from sexto_service.idempotency import IdempotentRoute, RequiredIdempotencyKey
from sexto_service.problems import problem, request_language
from sexto_service.roles import CASE_LISTERS, CASE_READERS, Allowed
from sexto_service.runtime import ServiceRuntime

from sexto_intake.app import directory
from sexto_intake.app.handlers import (
    Forbidden,
    case_row,
    handle_report_case,
    record_read,
    register,
    school_territory,
)
from sexto_intake.domain.cases import ReportCase, derived_student_ref, report_case_id
from sexto_intake.entrypoints.schemas import (
    AgreementIn,
    AgreementOut,
    CaseOut,
    CasePage,
    HistoryEntry,
    HistoryOut,
    IntervenerIn,
    IntervenerOut,
    Recorded,
    ReportCaseIn,
    SchoolIn,
    SchoolOut,
    StudentOut,
    TerritoryIn,
    TerritoryOut,
)
from sexto_intake.tables import cases

router = APIRouter(prefix="/v1", tags=["cases"], route_class=IdempotentRoute)
admin = APIRouter(prefix="/v1/admin", tags=["directory"], route_class=IdempotentRoute)


REPORTERS = Allowed(SCHOOL_ROLES, refusal="school-staff-report")
ADMINS = Allowed({Role.ADMIN}, refusal="admins-directory")
Reporter = Annotated[Principal, Depends(REPORTERS)]
Lister = Annotated[Principal, Depends(CASE_LISTERS)]
Reader = Annotated[Principal, Depends(CASE_READERS)]
MinVersion = Annotated[
    int | None,
    Query(
        ge=1,
        description="the version a write of yours answered: the read waits briefly until the "
        "case shows it (read your own writes)",
    ),
]
Admin = Annotated[Principal, Depends(ADMINS)]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _not_found() -> CaseNotFound:
    return CaseNotFound(Message("case-not-found"))


def _roles_of(student: dict[str, Any]) -> dict[str, Any]:
    """A student as the read model holds it (rows of the one-role shape read as a set)."""
    if "roles" in student:
        return student
    return {**{k: v for k, v in student.items() if k != "role"}, "roles": [student["role"]]}


def _escalation_status(stored: Any) -> str:
    """The lifecycle's status word of a case as the read model keeps it."""
    kept = json.loads(stored) if isinstance(stored, str) else stored
    state = lifecycle.CaseLifecycle.from_json(kept) if kept else lifecycle.CaseLifecycle()
    return lifecycle.status(state).value


def _case_out(row: dict[str, Any]) -> CaseOut:
    students = row["students"]
    if isinstance(students, str):
        students = json.loads(students)
    return CaseOut(
        case_id=row["case_id"],
        territory=row["territory"],
        school_id=row["school_id"],
        protocol=row["protocol"],
        status=row["status"],
        discovered_at=row["discovered_at"],
        reported_at=row["reported_at"],
        students=[StudentOut(**_roles_of(s)) for s in students],
        escalation_status=_escalation_status(row.get("lifecycle")),
        version=row["version"],
    )


@router.post("/cases", status_code=201, response_model=CaseOut)
async def report_case(
    body: ReportCaseIn,
    request: Request,
    response: Response,
    principal: Reporter,
    idempotency_key: RequiredIdempotencyKey,
) -> Any:
    """Report an incident. A retry with the same Idempotency-Key returns the same case."""
    case_id = report_case_id(principal.actor, idempotency_key)
    refs = [s.student_ref or derived_student_ref(case_id, i) for i, s in enumerate(body.students)]
    report = CaseReported(
        protocol=body.protocol,
        school_id=body.school_id,
        discovered_at=body.discovered_at,
        discovery_channel=body.discovery_channel,
        summary=body.summary,
        students=[
            StudentInvolved(
                student_ref=ref, roles=s.role_set(), age=s.age, grade=s.grade, name=s.name
            )
            for ref, s in zip(refs, body.students, strict=True)
        ],
    )
    # The school's student numbers go no further than the blind index: never in an event.
    numbers = {
        ref: s.student_number
        for ref, s in zip(refs, body.students, strict=True)
        if s.student_number is not None
    }
    outcome = await handle_report_case(
        _runtime(request), principal, ReportCase(report), idempotency_key, numbers
    )
    report, case = outcome.report, outcome.case
    response.headers["Location"] = f"/v1/cases/{case.case_id}"
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    out = CaseOut(
        case_id=case.case_id,
        territory=case.territory,
        school_id=report.school_id,
        protocol=report.protocol.value,
        status="open",
        discovered_at=report.discovered_at,
        reported_at=outcome.reported_at,
        students=[
            StudentOut(
                student_ref=s.student_ref,
                roles=[r.value for r in s.roles],
                age=s.age,
                grade=s.grade,
                earlier_cases=outcome.earlier_cases.get(s.student_ref, 0),
            )
            for s in report.students
        ],
        version=outcome.seq,
    )
    shown_to = viewer(request, principal)
    return disclose(shown_to, CaseOut, out.model_dump(mode="json"), case.case_id)


@router.get("/cases", response_model=CasePage)
async def list_cases(
    request: Request,
    principal: Lister,
    status: Annotated[str | None, Query(pattern=r"^(open|closed)$")] = None,
    protocol: Annotated[str | None, Query(pattern=r"^(sexto-qc|uk-dsl)$")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any] | JSONResponse:
    """Cases in the caller's scope, newest first (no personal data in this view)."""
    seen = visibility(principal)
    if seen is None:
        raise Forbidden(Message("no-case-access"))
    clauses, scope_args = seen.sql()
    args: list[Any] = list(scope_args)
    if status:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    if protocol:
        args.append(protocol)
        clauses.append(f"protocol = ${len(args)}")
    cursors = _Cursors(_runtime(request).settings.master_key_bytes())
    if cursor:
        try:
            at, after = cursors.open(cursor)
            args += [datetime.fromisoformat(at), after]
        except (ValueError, TypeError, InvalidTag):
            detail = Message("bad-cursor")
            return problem(400, "bad-cursor", detail, request_language(request))
        clauses.append(f"(reported_at, case_id) < (${len(args) - 1}, ${len(args)})")
    where = " AND ".join(clauses) or "true"
    args.append(limit + 1)
    async with _runtime(request).pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {column_names(cases)} FROM intake.cases WHERE {where} "
            f"ORDER BY reported_at DESC, case_id DESC LIMIT ${len(args)}",
            *args,
        )
    items = [_case_out(dict(r)) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = cursors.seal(last["reported_at"].isoformat(), last["case_id"])
    page = CasePage(items=items, next_cursor=next_cursor)
    shown_to = viewer(request, principal)
    # Each case disclosed with its own id: a student's pseudonym is keyed by its case.
    return {
        "items": [
            disclose(shown_to, CaseOut, item.model_dump(mode="json"), item.case_id)
            for item in page.items
        ],
        "next_cursor": page.next_cursor,
    }


class _Cursors:
    """Page cursors sealed (AES-GCM under a key derived from the master key): opaque to the
    caller, so a cursor never tells an analyst the real id of the case it stops at."""

    def __init__(self, master_key: bytes) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sexto-cursor-v1")
        self._aead = AESGCM(hkdf.derive(master_key))

    def seal(self, at: str, case_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps([at, case_id]).encode(), b"cases")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, cursor: str) -> tuple[str, str]:
        raw = base64.urlsafe_b64decode(cursor)
        at, after = json.loads(self._aead.decrypt(raw[:12], raw[12:], b"cases"))
        return str(at), str(after)


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(
    case_id: str, request: Request, principal: Reader, min_version: MinVersion = None
) -> Any:
    """A case's current state; another school's case is a 404 like a missing one."""
    runtime = _runtime(request)
    row = await case_row(runtime, principal, case_id, min_version)
    if row is None:
        raise _not_found()
    await record_read(runtime, principal, CaseRef(row["territory"], case_id), "state")
    shown = _case_out(row).model_dump(mode="json")
    return disclose(viewer(request, principal), CaseOut, shown, case_id)


@router.get("/cases/{case_id}/history", response_model=HistoryOut)
async def get_history(
    case_id: str,
    request: Request,
    principal: Reader,
    as_of: Annotated[
        AwareDatetime | None,
        Query(
            description="the record up to the first event recorded after this time (with "
            "its offset)"
        ),
    ] = None,
    min_version: MinVersion = None,
) -> Any:
    """The timeline read from the log itself, chain verified."""
    runtime = _runtime(request)
    row = await case_row(runtime, principal, case_id, min_version)
    if row is None:
        raise _not_found()
    case = CaseRef(row["territory"], case_id)
    await record_read(runtime, principal, case, "history")
    loaded = await runtime.store.load(case)
    # As of T: the record up to the first event recorded after T (always a prefix of the
    # record, as `sexto history --as-of` shows it; docs/glossary.md).
    events = list(
        loaded.events
        if as_of is None
        else itertools.takewhile(lambda e: e.envelope.time_dt <= as_of, loaded.events)
    )
    shown_to = viewer(request, principal)
    out = HistoryOut(
        case_id=case_id,
        as_of=as_of,
        chain_verified=True,
        version=events[-1].seq if events else 0,
        events=[_entry(e, shown_to) for e in events],
    ).model_dump(mode="json")
    return {**out, "case_id": disclose(shown_to, HistoryOut, {"case_id": case_id})["case_id"]}


def _entry(event: RecordedEvent, shown_to: Viewer) -> HistoryEntry:
    envelope = event.envelope.model_dump(mode="json")
    envelope["data"] = event.data.model_dump(mode="json")
    shown = disclose_event(shown_to, envelope, type(event.data))
    return HistoryEntry(
        seq=event.seq,
        id=shown["id"],
        time=shown["time"],
        type=shown["type"],
        actor=shown["actor"],
        actor_role=shown["actorrole"],
        data=shown["data"],
    )


@admin.post("/territories", status_code=201, response_model=Recorded)
async def add_territory(body: TerritoryIn, request: Request, principal: Admin) -> Any:
    """Register a police force's territory and its jurisdiction. A duplicate id is a 409."""
    runtime = _runtime(request)
    data = TerritoryRegistered(**body.model_dump())
    known = await directory.known(runtime, "territory", body.territory_id)
    return _recorded(
        *await register(runtime, principal, data, body.territory_id, "territory", known)
    )


@admin.post("/agreements", status_code=201, response_model=Recorded)
async def add_agreement(body: AgreementIn, request: Request, principal: Admin) -> Any:
    """Record an agreement between a police force and the DPCP: its territory must be in
    the directory (422) and it cannot end before it starts (422); a duplicate id is a 409."""
    runtime = _runtime(request)
    data = AgreementRecorded(**body.model_dump())
    known = await directory.known(runtime, "agreement", body.agreement_id, body.territory_id)
    return _recorded(
        *await register(runtime, principal, data, body.territory_id, body.agreement_id, known)
    )


@admin.post("/schools", status_code=201, response_model=Recorded)
async def add_school(body: SchoolIn, request: Request, principal: Admin) -> Any:
    """Register a school in a territory of the directory (422 otherwise); a duplicate id is
    a 409."""
    runtime = _runtime(request)
    data = SchoolRegistered(**body.model_dump())
    known = await directory.known(runtime, "school", body.school_id, body.territory_id)
    return _recorded(
        *await register(runtime, principal, data, body.territory_id, body.school_id, known)
    )


@admin.post("/interveners", status_code=201, response_model=Recorded)
async def add_intervener(body: IntervenerIn, request: Request, principal: Admin) -> Any:
    """Record an intervener's SEXTO certification at a school of the directory (422
    otherwise); the same certification twice is a 409."""
    runtime = _runtime(request)
    territory = await school_territory(runtime, body.school_id)
    data = IntervenerCertified(**body.model_dump())
    entity = f"{body.intervener_id}-{body.level.value}"
    return _recorded(*await register(runtime, principal, data, territory, entity))


def _recorded(event_id: str, seq: int) -> Recorded:
    return Recorded(id=event_id, stream_seq=seq)


def _entry_not_found() -> NotFound:
    return NotFound(Message("directory-entry-not-found"))


@admin.get("/territories", response_model=list[TerritoryOut])
async def list_territories(request: Request, principal: Admin) -> Any:
    """The directory's territories."""
    rows = await directory.entries(_runtime(request), "territory")
    return [
        disclose(viewer(request, principal), TerritoryOut, _json(TerritoryOut, r)) for r in rows
    ]


@admin.get("/territories/{territory_id}", response_model=TerritoryOut)
async def get_territory(territory_id: str, request: Request, principal: Admin) -> Any:
    """One territory of the directory."""
    return await _one(request, principal, "territory", territory_id, TerritoryOut)


@admin.get("/agreements", response_model=list[AgreementOut])
async def list_agreements(request: Request, principal: Admin) -> Any:
    """The directory's agreements."""
    rows = await directory.entries(_runtime(request), "agreement")
    return [
        disclose(viewer(request, principal), AgreementOut, _json(AgreementOut, r)) for r in rows
    ]


@admin.get("/agreements/{agreement_id}", response_model=AgreementOut)
async def get_agreement(agreement_id: str, request: Request, principal: Admin) -> Any:
    """One agreement of the directory."""
    return await _one(request, principal, "agreement", agreement_id, AgreementOut)


@admin.get("/schools", response_model=list[SchoolOut])
async def list_schools(request: Request, principal: Admin) -> Any:
    """The directory's schools."""
    rows = await directory.entries(_runtime(request), "school")
    return [disclose(viewer(request, principal), SchoolOut, _json(SchoolOut, r)) for r in rows]


@admin.get("/schools/{school_id}", response_model=SchoolOut)
async def get_school(school_id: str, request: Request, principal: Admin) -> Any:
    """One school of the directory."""
    return await _one(request, principal, "school", school_id, SchoolOut)


@admin.get("/interveners", response_model=list[IntervenerOut])
async def list_interveners(request: Request, principal: Admin) -> Any:
    """The directory's certified interveners (their latest certification)."""
    rows = await directory.entries(_runtime(request), "intervener")
    return [
        disclose(viewer(request, principal), IntervenerOut, _json(IntervenerOut, r)) for r in rows
    ]


@admin.get("/interveners/{intervener_id}", response_model=IntervenerOut)
async def get_intervener(intervener_id: str, request: Request, principal: Admin) -> Any:
    """One certified intervener of the directory."""
    return await _one(request, principal, "intervener", intervener_id, IntervenerOut)


def _json(model: type[BaseModel], row: dict[str, Any]) -> dict[str, Any]:
    return model(**row).model_dump(mode="json")


async def _one(
    request: Request, principal: Principal, kind: str, entity: str, model: type[BaseModel]
) -> Any:
    row = await directory.entry(_runtime(request), kind, entity)
    if row is None:
        raise _entry_not_found()
    return disclose(viewer(request, principal), model, _json(model, row))
