"""Composition root of the escalation service.

Run: `uvicorn --factory sexto_escalation.bootstrap:create_app`.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fastapi import FastAPI
from sexto_events.settings import EventLogSettings
from sexto_service.auth.tokens import AuthSettings
from sexto_service.runtime import ServiceDefinition, ServiceRuntime, build_app

from sexto_escalation.config import EscalationSettings
from sexto_escalation.entrypoints.api import docs, router
from sexto_escalation.projections.queue import PoliceQueue
from sexto_escalation.reactors.deadlines import watch
from sexto_escalation.reactors.requester import EscalationRequester

DEFINITION = ServiceDefinition(
    name="escalation",
    title="sexto escalation",
    description=(
        "Police dispatch, chain of custody of the sealed kit, and the prosecutor's decision."
    ),
    routers=(router, docs),
    read_models=lambda: (PoliceQueue(),),
    reactors=lambda store: (EscalationRequester(store),),
)


def create_app(
    settings: EventLogSettings | None = None,
    auth: AuthSettings | None = None,
    escalation: EscalationSettings | None = None,
) -> FastAPI:
    """The escalation service's app; connections open in its lifespan, not at import."""

    async def start_watching(runtime: ServiceRuntime) -> None:
        deadlines = escalation or EscalationSettings()
        runtime.background.append(
            asyncio.create_task(watch(runtime, deadlines), name="escalation-deadlines")
        )

    return build_app(replace(DEFINITION, on_start=start_watching), settings, auth)
