"""Composition root of the escalation service.

Run: `uvicorn --factory sexto_escalation.bootstrap:create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from sexto_events.auth.tokens import AuthSettings
from sexto_events.service import ServiceDefinition, build_app
from sexto_events.settings import EventLogSettings

from sexto_escalation.entrypoints.api import configure, router
from sexto_escalation.projections.queue import PoliceQueue
from sexto_escalation.projections.requester import EscalationRequester

DEFINITION = ServiceDefinition(
    name="escalation",
    title="sexto escalation",
    description=(
        "Police dispatch, chain of custody of the sealed kit, and the prosecutor's decision."
    ),
    routers=(router,),
    projections=lambda store: (PoliceQueue(), EscalationRequester(store)),
    configure=configure,
)


def create_app(
    settings: EventLogSettings | None = None, auth: AuthSettings | None = None
) -> FastAPI:
    """The escalation service's app; connections open in its lifespan, not at import."""
    return build_app(DEFINITION, settings, auth)
