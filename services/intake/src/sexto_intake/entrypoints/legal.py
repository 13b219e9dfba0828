"""The legal review API: a case's history, its chain verification and its court bundle.

For the legal_reviewer role only (any other role: 403); every read is on the case's record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime
from sexto_events.chain import ChainReport
from sexto_events.messages import Message
from sexto_events.model import CaseRef
from sexto_events.principal import Principal, Role
from sexto_events.refusals import CaseNotFound, Invalid, Unavailable
from sexto_legal.export import build_bundle
from sexto_legal.history import case_history
from sexto_legal.transparency.api import TreeBehind, TreeClient, TreeUnavailable, b64
from sexto_legal.transparency.evidence import EvidenceMismatch, NotWitnessed, case_evidence
from sexto_legal.transparency.store import ProofRequestError
from sexto_legal.verification import head_hash, verify_stored
from sexto_service.disclosure import viewer
from sexto_service.idempotency import IdempotentRoute
from sexto_service.roles import Allowed
from sexto_service.runtime import ServiceRuntime

from sexto_intake.app.handlers import case_row, record_read
from sexto_intake.entrypoints.schemas import ChainOut, LegalEntry, LegalHistoryOut

router = APIRouter(prefix="/v1/legal", tags=["legal review"], route_class=IdempotentRoute)

Reviewer = Annotated[
    Principal, Depends(Allowed({Role.LEGAL_REVIEWER}, refusal="legal-reviewers-only"))
]

ZIP = "application/zip"
RETRY_S = 2  # the tree follows the stream within a batch or two
Size = Annotated[int, Query(ge=0, le=2**62, description="a tree size (a number of leaves)")]


def _tree(request: Request) -> TreeClient:
    runtime: ServiceRuntime = request.app.state.runtime
    return TreeClient(runtime.nc, runtime.store.spec.name)


@contextlib.contextmanager
def _transparency_refusals() -> Iterator[None]:
    """The transparency log's failures as problems: what to fix (422), retry (503, with
    Retry-After when the tree is only behind), or a fault of the tree (TreeFault: the 500)."""
    try:
        yield
    except ProofRequestError as exc:
        raise Invalid(Message("proof-request-invalid", reason=str(exc))) from None
    except TreeBehind:
        raise Unavailable(Message("tlog-behind", seconds=RETRY_S), retry_after=RETRY_S) from None
    except NotWitnessed:
        raise Unavailable(Message("tlog-not-witnessed")) from None
    except (TreeUnavailable, EvidenceMismatch):
        raise Unavailable(Message("tlog-unavailable")) from None


async def _case(request: Request, principal: Principal, case_id: str) -> CaseRef:
    runtime: ServiceRuntime = request.app.state.runtime
    row = await case_row(runtime, principal, case_id)
    if row is None:
        raise CaseNotFound(Message("case-not-found-any"))
    return CaseRef(row["territory"], case_id)


def _chain(case_id: str, report: ChainReport, head_hash: str) -> ChainOut:
    return ChainOut(
        case_id=case_id,
        events=report.count,
        verified=report.ok,
        broken_position=report.position,
        broken_event_id=report.event_id,
        reason=report.reason,
        head_hash=head_hash,
    )


@router.get("/cases/{case_id}/history", response_model=LegalHistoryOut)
async def legal_history(
    case_id: str,
    request: Request,
    response: Response,
    principal: Reviewer,
    as_of: Annotated[
        AwareDatetime | None,
        Query(description="only what was recorded at or before this time (with its offset)"),
    ] = None,
) -> Any:
    """Who recorded what, when, under which protocol version, disclosed by the reviewer's row
    of the disclosure policy: personal data in clear."""
    case = await _case(request, principal, case_id)
    runtime: ServiceRuntime = request.app.state.runtime
    await record_read(runtime, principal, case, "legal_history")
    response.headers["Cache-Control"] = "no-store"  # personal data in clear
    shown_to = viewer(request, principal)
    found = await case_history(runtime.store, case, as_of=as_of, viewer=shown_to)
    return LegalHistoryOut(
        case_id=case_id,
        as_of=as_of,
        chain=_chain(case_id, found.chain, found.head_hash),
        version=found.version,
        events=[
            LegalEntry(
                seq=e.seq,
                id=e.id,
                time=e.time,
                type=e.type,
                actor=e.actor,
                actor_role=e.actor_role,
                data=e.data,
                protocol_version=e.protocol_version,
            )
            for e in found.entries
        ],
    )


@router.get("/cases/{case_id}/verification", response_model=ChainOut)
async def legal_verification(case_id: str, request: Request, principal: Reviewer) -> Any:
    """The case's hash chain verified from the stored bytes: the first broken position."""
    case = await _case(request, principal, case_id)
    runtime: ServiceRuntime = request.app.state.runtime
    await record_read(runtime, principal, case, "legal_verification")
    stored = await runtime.store.read_raw(case)
    return _chain(case_id, verify_stored(case, stored), head_hash(stored))


@router.get(
    "/cases/{case_id}/export",
    response_class=Response,
    responses={200: {"content": {ZIP: {}}, "description": "the court bundle as a zip archive"}},
)
async def legal_export(case_id: str, request: Request, principal: Reviewer) -> Response:
    """The self-verifying court bundle (events, protocols, custody log, verify.py) as a zip."""
    case = await _case(request, principal, case_id)
    runtime: ServiceRuntime = request.app.state.runtime
    await record_read(runtime, principal, case, "legal_export")
    with _transparency_refusals():
        bundle = await build_bundle(
            runtime.store, case, tree=_tree(request), exported_by=principal,
            viewer=viewer(request, principal), now=datetime.now(UTC),
        )  # fmt: skip
    return Response(
        bundle.zip_bytes(),
        media_type=ZIP,
        headers={
            "Content-Disposition": f'attachment; filename="case-{case_id}.zip"',
            "Cache-Control": "no-store",  # personal data in clear: no copy on the way
        },
    )


@router.get("/cases/{case_id}/transparency")
async def legal_case_transparency(case_id: str, request: Request, principal: Reviewer) -> Any:
    """The case's leaves in a cosigned checkpoint that holds all its events, each with its
    inclusion proof, and the log's signed statement of the case's head in that checkpoint:
    how many leaves the case has and which is the last (its completeness)."""
    case = await _case(request, principal, case_id)
    runtime: ServiceRuntime = request.app.state.runtime
    await record_read(runtime, principal, case, "legal_transparency")
    with _transparency_refusals():
        evidence = await case_evidence(runtime.store, _tree(request), case)
    return {
        "case_id": case_id,
        "checkpoint": evidence.leaves.checkpoint.decode(),
        "case_head": evidence.leaves.head_statement.decode(),
        "log_key": evidence.leaves.log_key,
        "witnesses": evidence.leaves.witnesses,
        "leaves": evidence.leaves.leaves,
    }


@router.get("/transparency/checkpoint")
async def legal_checkpoint(request: Request, principal: Reviewer) -> dict[str, Any]:
    """The newest signed checkpoint of the transparency log, with its witnesses'
    cosignatures (C2SP tlog-checkpoint in a signed note): what a reviewer keeps."""
    with _transparency_refusals():
        note = await _tree(request).checkpoint()
    return {"checkpoint": note.decode()}


@router.get("/transparency/proofs/inclusion")
async def legal_inclusion_proof(
    request: Request,
    principal: Reviewer,
    index: Annotated[int, Query(ge=0, le=2**62, description="the leaf's index")],
    size: Size,
) -> dict[str, Any]:
    """The RFC 6962 inclusion proof of leaf `index` in the tree of `size` leaves."""
    with _transparency_refusals():
        proof = await _tree(request).inclusion(index, size)
    return {"index": index, "size": size, "proof": b64(proof)}


@router.get("/transparency/proofs/consistency")
async def legal_consistency_proof(
    request: Request,
    principal: Reviewer,
    first: Annotated[int, Query(alias="from", ge=0, le=2**62, description="the older size")],
    second: Annotated[int, Query(alias="to", ge=0, le=2**62, description="the newer size")],
) -> dict[str, Any]:
    """The RFC 6962 consistency proof from tree size `from` to `to`: the newer tree
    holds the older one unchanged."""
    with _transparency_refusals():
        proof = await _tree(request).consistency(first, second)
    return {"from": first, "to": second, "proof": b64(proof)}
