"""Composition root of the intake service.

Run: `uvicorn --factory sexto_intake.bootstrap:create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from sexto_events.auth.tokens import AuthSettings
from sexto_events.service import ServiceDefinition, build_app
from sexto_events.settings import EventLogSettings

DEFINITION = ServiceDefinition(
    name="intake",
    title="sexto intake",
    description="Partner systems report incidents and the facts of a case over REST.",
)


def create_app(
    settings: EventLogSettings | None = None, auth: AuthSettings | None = None
) -> FastAPI:
    """The intake service's app; connections open in its lifespan, not at import."""
    return build_app(DEFINITION, settings, auth)
