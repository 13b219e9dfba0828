"""Composition root of the notification service.

Run: `uvicorn --factory sexto_notification.bootstrap:create_app`.
"""

from __future__ import annotations

from fastapi import FastAPI
from sexto_events.auth.tokens import AuthSettings
from sexto_events.service import ServiceDefinition, build_app
from sexto_events.settings import EventLogSettings

DEFINITION = ServiceDefinition(
    name="notification",
    title="sexto notification",
    description="Signed webhooks and e-mail; every delivery on the case's record.",
)


def create_app(
    settings: EventLogSettings | None = None, auth: AuthSettings | None = None
) -> FastAPI:
    """The notification service's app; connections open in its lifespan, not at import."""
    return build_app(DEFINITION, settings, auth)
