"""Composition root of the evaluation service.

Run: `uvicorn --factory sexto_evaluation.bootstrap:create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from sexto_events.settings import EventLogSettings
from sexto_service.auth.tokens import AuthSettings
from sexto_service.runtime import ServiceDefinition, build_app

from sexto_evaluation.entrypoints.api import router
from sexto_evaluation.projections.cases import EvaluationCases
from sexto_evaluation.reactors.grids import GridOpener

DEFINITION = ServiceDefinition(
    name="evaluation",
    title="sexto evaluation",
    description="The incident evaluation grid per student, under versioned protocols.",
    routers=(router,),
    read_models=lambda: (EvaluationCases(),),
    reactors=lambda store: (GridOpener(store),),
)


def create_app(
    settings: EventLogSettings | None = None, auth: AuthSettings | None = None
) -> FastAPI:
    """The evaluation service's app; connections open in its lifespan, not at import."""
    return build_app(DEFINITION, settings, auth)
