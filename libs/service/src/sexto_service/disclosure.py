"""The disclosure policy at the HTTP edge: who is reading, and `GET /v1/disclosure`.

What a reader sees is decided by sexto_events.disclosure (the table and `disclose`); a
route builds its answer, then passes it through `disclose` with the caller's `reader`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sexto_events.disclosure import Viewer, policy_document
from sexto_events.principal import Principal

disclosure_router = APIRouter(tags=["disclosure"])


def viewer(request: Request, principal: Principal) -> Viewer:
    """The caller as a reader of case data: its role's row, analysts' keyed pseudonyms."""
    return Viewer(principal.role, request.app.state.runtime.pseudonyms)


@disclosure_router.get("/v1/disclosure")
async def disclosure() -> dict[str, Any]:
    """Who sees what: the policy table (role x class of data -> shown, pseudonymised or
    withheld) and its version, which every read of a case records. The same on every
    service; public, as it holds no data."""
    return policy_document()
