"""Composition root of the intake service.

Run: `uvicorn --factory sexto_intake.bootstrap:create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from sexto_events.settings import EventLogSettings
from sexto_service.auth.tokens import AuthSettings
from sexto_service.runtime import ServiceDefinition, build_app

from sexto_intake.entrypoints import facts, legal
from sexto_intake.entrypoints.api import admin, router
from sexto_intake.projections.cases import CasesProjection
from sexto_intake.projections.directory import DIRECTORY_STREAM, DirectoryProjection
from sexto_intake.reactors.student_index import StudentIndexErasure

DEFINITION = ServiceDefinition(
    name="intake",
    title="sexto intake",
    description="Partner systems report incidents and the facts of a case over REST.",
    routers=(router, facts.router, legal.router, admin),
    read_models=lambda: (CasesProjection(), DirectoryProjection()),
    reactors=lambda _: (StudentIndexErasure(),),
    streams=(DIRECTORY_STREAM,),
    migrations="sexto_intake:migrations/tables",
)


def create_app(
    settings: EventLogSettings | None = None, auth: AuthSettings | None = None
) -> FastAPI:
    """The intake service's app; connections open in its lifespan, not at import."""
    return build_app(DEFINITION, settings, auth)
