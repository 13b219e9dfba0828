"""Further facts on a case, each an event: students, roles, devices, steps, notes, closure."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import (
    ActionNotTaken,
    CaseClosed,
    ChecklistStepCompleted,
    DeviceSecured,
    LateCustody,
    NoteAdded,
    StudentAdded,
    StudentInvolved,
    StudentRoleChanged,
)
from sexto_events.principal import SCHOOL_ROLES, Principal
from sexto_service.idempotency import IdempotencyKey, IdempotentRoute
from sexto_service.roles import Allowed
from sexto_service.runtime import ServiceRuntime

from sexto_intake.app.handlers import handle_fact
from sexto_intake.entrypoints.schemas import (
    ActionNotTakenIn,
    CloseIn,
    DeviceIn,
    FactRecorded,
    NoteIn,
    RoleChangeIn,
    StepIn,
    StudentIn,
)

router = APIRouter(prefix="/v1/cases/{case_id}", tags=["case facts"], route_class=IdempotentRoute)

# The school's staff record facts; which case they may touch is the scope rule (404).
Staff = Annotated[Principal, Depends(Allowed(SCHOOL_ROLES, refusal="school-staff-facts"))]
# Path values checked as the events they become check them: a bad one is a 422, never a 500.
StudentRefPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
StepIdPath = Annotated[str, Path(pattern=r"^[a-z_]{1,64}$")]


async def _record(
    request: Request,
    principal: Staff,
    case_id: str,
    fact: EventData,
    key: str | None,
    numbers: dict[str, str] | None = None,
) -> FactRecorded:
    runtime: ServiceRuntime = request.app.state.runtime
    event_id, version = await handle_fact(runtime, principal, case_id, fact, key, numbers)
    return FactRecorded(id=event_id, version=version)


def new_student_ref(case_id: str, caller: str, key: str | None) -> str:
    """A ref for a student added without one: fixed by (case, caller, Idempotency-Key) when
    a key is given, so a retry after a lost answer names the student the first try added
    (and puts no second, unrecorded ref in the student index)."""
    if key is None:
        return f"stu-{uuid.uuid4().hex[:12]}"
    return f"stu-{hashlib.sha256(f'{case_id}|{caller}|{key}'.encode()).hexdigest()[:12]}"


@router.post("/students", status_code=201, response_model=FactRecorded)
async def add_student(
    case_id: str,
    body: StudentIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """A further student found to be involved; with the school's student number, one seen
    in an earlier case of the territory is noted (intake.prior_involvement_noted)."""
    ref = body.student_ref or new_student_ref(case_id, principal.actor, idempotency_key)
    student = StudentInvolved(
        student_ref=ref, roles=body.role_set(), age=body.age, grade=body.grade, name=body.name
    )
    numbers = {ref: body.student_number} if body.student_number is not None else None
    fact = StudentAdded(student=student)
    return await _record(request, principal, case_id, fact, idempotency_key, numbers)


@router.post("/students/{student_ref}/role", status_code=201, response_model=FactRecorded)
async def change_role(
    case_id: str,
    student_ref: StudentRefPath,
    body: RoleChangeIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """Correct a student's roles (the whole new set)."""
    fact = StudentRoleChanged(student_ref=student_ref, roles=body.role_set(), reason=body.reason)
    return await _record(request, principal, case_id, fact, idempotency_key)


@router.post("/devices", status_code=201, response_model=FactRecorded)
async def device_secured(
    case_id: str,
    body: DeviceIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """A phone secured; its seal number starts the chain of custody. A bag found or sealed
    later is recorded with `late`: when it was secured, by whom (you when not said), why."""
    late = None
    if body.late is not None:
        late = LateCustody(
            secured_at=body.late.secured_at,
            secured_by=body.late.secured_by or principal.actor,
            reason=body.late.reason,
        )
    fact = DeviceSecured(
        owner_ref=body.owner_ref, measure=body.measure, seal_number=body.seal_number, late=late
    )
    return await _record(request, principal, case_id, fact, idempotency_key)


@router.post("/checklist/{step_id}", status_code=201, response_model=FactRecorded)
async def step_completed(
    case_id: str,
    step_id: StepIdPath,
    body: StepIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """A checklist step of the case's protocol version done."""
    fact = ChecklistStepCompleted(step_id=step_id, note=body.note)
    return await _record(request, principal, case_id, fact, idempotency_key)


@router.post("/notes", status_code=201, response_model=FactRecorded)
async def add_note(
    case_id: str,
    body: NoteIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """A factual note."""
    return await _record(request, principal, case_id, NoteAdded(text=body.text), idempotency_key)


@router.post("/actions-not-taken", status_code=201, response_model=FactRecorded)
async def action_not_taken(
    case_id: str,
    body: ActionNotTakenIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """An action deliberately not taken, with its justification."""
    fact = ActionNotTaken(action=body.action, justification=body.justification)
    return await _record(request, principal, case_id, fact, idempotency_key)


@router.post("/close", status_code=201, response_model=FactRecorded)
async def close_case(
    case_id: str,
    body: CloseIn,
    request: Request,
    principal: Staff,
    idempotency_key: IdempotencyKey = None,
) -> FactRecorded:
    """Close the case with its resolution."""
    fact = CaseClosed(resolution=body.resolution, note=body.note)
    return await _record(request, principal, case_id, fact, idempotency_key)
