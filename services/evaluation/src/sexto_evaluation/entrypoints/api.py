"""The evaluation API: protocols as data, a grid per student, the assessment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sexto_events.disclosure import disclose
from sexto_events.messages import Message
from sexto_events.principal import SCHOOL_ROLES, Principal
from sexto_events.refusals import NotFound
from sexto_protocols import all_versions
from sexto_service.disclosure import viewer
from sexto_service.idempotency import IdempotencyKey, IdempotentRoute
from sexto_service.roles import ANY_ROLE, CASE_READERS, Allowed
from sexto_service.runtime import ServiceRuntime

from sexto_evaluation.app.handlers import handle_grid, latest_assessment
from sexto_evaluation.domain.decide import GridAnswers
from sexto_evaluation.entrypoints.schemas import (
    AssessmentOut,
    AssessmentShown,
    GridIn,
    GridRecorded,
    GridShown,
    WarningShown,
)

router = APIRouter(prefix="/v1", tags=["evaluation"], route_class=IdempotentRoute)


class UnknownProtocol(NotFound):
    """No protocol with this name and version."""

    kind = "unknown-protocol"


Caller = Annotated[Principal, Depends(ANY_ROLE)]
Reader = Annotated[Principal, Depends(CASE_READERS)]
Interviewer = Annotated[Principal, Depends(Allowed(SCHOOL_ROLES, refusal="school-staff-grids"))]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@router.get("/protocols")
async def list_protocols(_: Caller) -> list[dict[str, Any]]:
    """Every protocol version, with its content-hash id."""
    return [{"name": p.name, "version": p.version, "id": p.id} for p in all_versions()]


@router.get("/protocols/{name}/{version}", response_model=None)
async def get_protocol(name: str, version: int, _: Caller) -> Any:
    """One protocol version's grid, checklist, rules and texts."""
    for p in all_versions():
        if (p.name, p.version) == (name, version):
            return {"id": p.id, **p.raw}
    raise UnknownProtocol(Message("unknown-protocol", name=name, version=version))


@router.put("/cases/{case_id}/grids/{student_ref}", status_code=201, response_model=GridRecorded)
async def put_grid(
    case_id: str,
    student_ref: str,
    body: GridIn,
    request: Request,
    principal: Interviewer,
    idempotency_key: IdempotencyKey = None,
) -> GridRecorded:
    """A student's grid; a change is a new event that supersedes, with its reason."""
    runtime = _runtime(request)
    grid = GridAnswers(body.answers, body.notes, body.reason)
    outcome = await handle_grid(runtime, principal, case_id, student_ref, grid, idempotency_key)
    return GridRecorded(
        event_ids=outcome.event_ids,
        version=outcome.version,
        assessed=len(outcome.event_ids) > 1,
        complete=outcome.complete,
        missing=outcome.missing,
        warnings=[WarningShown(**w.model_dump()) for w in outcome.warnings],
    )


@router.get("/cases/{case_id}/assessment", response_model=AssessmentOut)
async def get_assessment(case_id: str, request: Request, principal: Reader) -> Any:
    """The latest assessment with the rules that fired, in French and English; each
    student's grid with what it still lacks and the warnings for the intervener."""
    view = await latest_assessment(_runtime(request), principal, case_id)
    latest = view.latest
    assessment = None
    if latest is not None:
        assessment = {
            "event_id": latest.id,
            "time": latest.envelope.time,
            "protocol_version": latest.envelope.protocolversion,
            **latest.data.model_dump(mode="json"),
        }
    shown_to = viewer(request, principal)
    out = AssessmentOut(
        case_id=case_id,
        status="assessed" if latest is not None and not view.pending else "pending",
        pending_students=view.pending,
        protocol_version=view.protocol_version,
        grids=[
            GridShown(
                student_ref=g.student_ref,
                status=g.status,
                missing=g.missing,
                warnings=[WarningShown(**w.model_dump()) for w in g.warnings],
            )
            for g in view.grids
        ],
        assessment=None,
    ).model_dump(mode="json")
    out = disclose(shown_to, AssessmentOut, out, case_id)
    # Null while grids are pending is no data to withhold: the field's own class is by
    # the event's fields, so the walker alone would answer {"withheld": true}.
    out["assessment"] = (
        disclose(shown_to, AssessmentShown, assessment, case_id) if assessment else None
    )
    return out
