"""Police and prosecutor REST: the queue, each workflow step, the custody log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sexto_events.asyncapi import build_asyncapi
from sexto_events.catalogue.escalation import SealCheck
from sexto_events.disclosure import DataClass, Withheld, classed, disclose
from sexto_events.principal import (
    POLICE_ROLES,
    Principal,
    Role,
)
from sexto_events.recording import record_read
from sexto_protocols.lifecycle import Status
from sexto_service.disclosure import viewer
from sexto_service.idempotency import IdempotentRoute
from sexto_service.roles import CASE_READERS, Allowed
from sexto_service.runtime import ServiceRuntime

from sexto_escalation.app.handlers import case_in_scope, queue, take_step
from sexto_escalation.domain.workflow import (
    acknowledge,
    collect_kit,
    consult,
    decide,
    meeting_held,
    offer_support,
    refer,
    schedule_meeting,
)

router = APIRouter(prefix="/v1", tags=["escalation"], route_class=IdempotentRoute)
docs = APIRouter(tags=["integration"], route_class=IdempotentRoute)

# Who takes each step; which escalations they see is the scope rule (404 otherwise).
Police = Annotated[Principal, Depends(Allowed(POLICE_ROLES, refusal="step-roles"))]
Prosecutor = Annotated[Principal, Depends(Allowed({Role.PROSECUTOR}, refusal="step-roles"))]
Dsl = Annotated[Principal, Depends(Allowed({Role.SAFEGUARDING_LEAD}, refusal="step-roles"))]
# Support is offered by the police (community relations officers) or the school's staff.
Supporter = Annotated[
    Principal,
    Depends(Allowed(POLICE_ROLES, {Role.INTERVENER, Role.SAFEGUARDING_LEAD}, refusal="step-roles")),
]
QueueReader = Annotated[
    Principal, Depends(Allowed(POLICE_ROLES, {Role.PROSECUTOR}, refusal="queue-police"))
]
Reader = Annotated[Principal, Depends(CASE_READERS)]


class Strict(BaseModel):
    """Unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class AcknowledgeIn(Strict):
    """The 911 call reference."""

    call_reference: str = Field(min_length=1, max_length=64)


class KitIn(Strict):
    """Each sealed bag as found: its number and whether the seal is intact."""

    seals: list[SealCheck] = Field(max_length=50)


class ConsultIn(Strict):
    """The DPCP file reference."""

    dpcp_file_reference: str = Field(min_length=1, max_length=64)


class DecisionIn(Strict):
    """The DPCP's decision for one student, with its reasons in words."""

    decision: Literal["impulsive", "malicious", "no_further_action"]
    reasons: str = Field(min_length=1, max_length=4000)


class StepRecorded(BaseModel):
    """The step on the record."""

    id: str = classed(DataClass.RECORD)
    version: int = classed(DataClass.RECORD)


class EscalationOut(BaseModel):
    """A queue entry: no names, what police need."""

    case_id: str = classed(DataClass.REFERENCE, "case")
    territory: str = classed(DataClass.JURISDICTION)
    school_id: str = classed(DataClass.REFERENCE, "school")
    urgency: str = classed(DataClass.OUTCOME)
    status: Status = classed(DataClass.OUTCOME)
    requested_at: datetime = classed(DataClass.OUTCOME)
    flagged: bool | Withheld = classed(DataClass.CUSTODY, description="a seal problem at pickup")


class BagOut(BaseModel):
    """One sealed bag's chain of custody."""

    seal_number: str = classed(DataClass.REFERENCE, "kit_seal")
    secured_by: str | Withheld | None = classed(DataClass.STAFF, "person")
    secured_at: datetime | Withheld | None = classed(DataClass.CUSTODY)
    handed_to: str | Withheld | None = classed(DataClass.STAFF, "person")
    handed_at: datetime | Withheld | None = classed(DataClass.CUSTODY)
    seal_state: str | Withheld | None = classed(DataClass.CUSTODY)


class CustodyOut(BaseModel):
    """Each sealed bag of a case: secured by whom and when, handed to whom and when."""

    case_id: str = classed(DataClass.REFERENCE, "case")
    bags: list[BagOut]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _key(request: Request) -> str | None:
    # Checked by the route class (sexto_service.idempotency): a step's id derives from it.
    return request.headers.get("Idempotency-Key")


@router.get("/escalations", response_model=list[EscalationOut])
async def list_escalations(
    request: Request,
    principal: QueueReader,
    status: Annotated[
        Status | None, Query(description="one status word; closed cases show only when asked")
    ] = None,
    urgency: Annotated[str | None, Query(pattern=r"^(routine|high|urgent)$")] = None,
) -> Any:
    """The territory's escalations, most urgent first (closed cases with status=closed)."""
    shown_to = viewer(request, principal)
    return [
        disclose(shown_to, EscalationOut, EscalationOut(**row).model_dump(mode="json"))
        for row in await queue(_runtime(request), principal, status, urgency)
    ]


@router.post("/escalations/{case_id}/acknowledge", status_code=201, response_model=StepRecorded)
async def acknowledge_escalation(
    case_id: str, body: AcknowledgeIn, request: Request, principal: Police
) -> StepRecorded:
    """Police dispatch takes the escalation."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: acknowledge(s, body.call_reference, principal.actor),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


@router.post("/escalations/{case_id}/kit-collected", status_code=201, response_model=StepRecorded)
async def kit_collected(
    case_id: str, body: KitIn, request: Request, principal: Police
) -> StepRecorded:
    """The patrol officer collected the kit; each seal checked against the school's record."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: collect_kit(s, principal.actor, body.seals),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


@router.post(
    "/escalations/{case_id}/prosecutor-consulted", status_code=201, response_model=StepRecorded
)
async def prosecutor_consulted(
    case_id: str, body: ConsultIn, request: Request, principal: Police
) -> StepRecorded:
    """The police consulted the DPCP."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: consult(s, body.dpcp_file_reference),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


@router.post(
    "/escalations/{case_id}/decisions/{student_ref}", status_code=201, response_model=StepRecorded
)
async def prosecutor_decision(
    case_id: str, student_ref: str, body: DecisionIn, request: Request, principal: Prosecutor
) -> StepRecorded:
    """The DPCP's decision for one student."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: decide(s, student_ref, body.decision, body.reasons),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


ASYNCAPI = build_asyncapi(
    title="sexto escalation events",
    description=(
        "What police dispatch integrations consume: CloudEvents on NATS JetStream stream "
        "CASES. Subscribe to cases.<your territory>.*.escalation.> (your NATS account only "
        "allows your territory) and report back over this service's REST API."
    ),
    contexts=["escalation"],
)


@docs.get("/asyncapi.json")
async def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the escalation events."""
    return ASYNCAPI


class ReferralIn(Strict):
    """UK path: the receiving agency (another one named by `agency_name`) and its reference."""

    agency: Literal["police", "childrens_social_care", "other"]
    agency_name: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$"
    )
    reference: str = Field(min_length=1, max_length=64)


class SupportIn(Strict):
    """A support offered: its kind and the service's reference (never a document)."""

    kind: Literal["victim_assistance", "image_removal", "counselling", "other"]
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_./-]+$")


class MeetingIn(Strict):
    """When the educational meeting takes place."""

    at: AwareDatetime


class MeetingHeldIn(Strict):
    """Who attended, by role (never names)."""

    attended: list[
        Literal["student", "parents", "community_relations_officer", "intervener",
                "depicted_student", "depicted_students_parents"]
    ] = Field(min_length=1, max_length=10)  # fmt: skip


@router.post("/escalations/{case_id}/referral", status_code=201, response_model=StepRecorded)
async def record_referral(
    case_id: str, body: ReferralIn, request: Request, principal: Dsl
) -> StepRecorded:
    """UK path: one of the designated safeguarding lead's referrals (each agency once)."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: refer(s, body.agency, body.reference, body.agency_name),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


@router.post(
    "/escalations/{case_id}/support/{student_ref}", status_code=201, response_model=StepRecorded
)
async def support_offered(
    case_id: str, student_ref: str, body: SupportIn, request: Request, principal: Supporter
) -> StepRecorded:
    """Support offered to a student (victim assistance, image removal, counselling): the
    service's reference only. Stays open after the case is closed."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: offer_support(s, student_ref, body.kind, body.reference),
        key=_key(request),
        any_case=True,
    )
    return StepRecorded(id=event_id, version=version)


@router.post(
    "/escalations/{case_id}/meetings/{student_ref}", status_code=201, response_model=StepRecorded
)
async def schedule(
    case_id: str, student_ref: str, body: MeetingIn, request: Request, principal: Police
) -> StepRecorded:
    """Schedule a meeting with community relations officers: the educational meeting after
    an impulsive decision, or a victim-track student's meeting."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: schedule_meeting(s, student_ref, body.at),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


@router.post(
    "/escalations/{case_id}/meetings/{student_ref}/held",
    status_code=201,
    response_model=StepRecorded,
)
async def held(
    case_id: str,
    student_ref: str,
    body: MeetingHeldIn,
    request: Request,
    principal: Police,
) -> StepRecorded:
    """Record that the meeting took place, and who attended."""
    event_id, version = await take_step(
        _runtime(request),
        principal,
        case_id,
        lambda s: meeting_held(s, student_ref, list(body.attended)),
        key=_key(request),
    )
    return StepRecorded(id=event_id, version=version)


@router.get("/cases/{case_id}/custody", response_model=CustodyOut)
async def custody(case_id: str, request: Request, principal: Reader) -> Any:
    """Each sealed bag: secured by whom and when, handed to whom and when, seal state."""
    runtime = _runtime(request)
    case = await case_in_scope(runtime, principal, case_id)
    await record_read(runtime.store, principal, case, "custody", "escalation")
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seal_number, secured_by, secured_at, handed_to, handed_at, seal_state "
            "FROM escalation.custody WHERE case_id = $1 ORDER BY seal_number",
            case_id,
        )
    out = CustodyOut(case_id=case_id, bags=[BagOut(**r) for r in rows])
    return disclose(viewer(request, principal), CustodyOut, out.model_dump(mode="json"), case_id)
