"""Composition root of the notification service.

Run: `uvicorn --factory sexto_notification.bootstrap:create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from fastapi import FastAPI
from sexto_events.settings import EventLogSettings
from sexto_service.auth.tokens import AuthSettings
from sexto_service.runtime import ServiceDefinition, ServiceRuntime, build_app
from sexto_service.telemetry import instrument_client

from sexto_notification.app.mail import MailTransport, transport_for
from sexto_notification.app.urls import webhook_client
from sexto_notification.config import NotificationSettings
from sexto_notification.entrypoints.api import router
from sexto_notification.projections.dispatch import Dispatcher
from sexto_notification.projections.schools import DIRECTORY_STREAM, Schools
from sexto_notification.reactors.sender import Sender

DEFINITION = ServiceDefinition(
    name="notification",
    title="sexto notification",
    description="Signed webhooks and e-mail; every delivery on the case's record.",
    routers=(router,),
    read_models=lambda: (Schools(), Dispatcher()),
    streams=(DIRECTORY_STREAM,),
    migrations="sexto_notification:migrations/tables",
)


class UnsafeSettings(RuntimeError):
    """Settings meant for a laptop, refused in production."""


def refuse_development_settings(own: NotificationSettings, environment: str) -> None:
    """In production, webhooks go to public https addresses only and mail to a real server."""
    if environment != "production":
        return
    if own.allow_insecure_urls:
        raise UnsafeSettings("SEXTO_NOTIFICATION_ALLOW_INSECURE_URLS=true is refused in production")
    if not own.smtp_host:
        raise UnsafeSettings(
            "set SEXTO_NOTIFICATION_SMTP_HOST in production: the mail folder is for development"
        )


def create_app(
    settings: EventLogSettings | None = None,
    auth: AuthSettings | None = None,
    notification: NotificationSettings | None = None,
    mail: MailTransport | None = None,
) -> FastAPI:
    """The notification service's app; connections open in its lifespan, not at import."""
    own = notification or NotificationSettings()

    async def start_sending(runtime: ServiceRuntime) -> None:
        refuse_development_settings(own, runtime.settings.environment)
        http = webhook_client(own.allow_insecure_urls)
        instrument_client(http, runtime.tracer_provider)
        sender = Sender(runtime, own, mail or transport_for(own), http)

        async def run() -> None:
            try:
                await sender.run()
            finally:
                with contextlib.suppress(Exception):
                    await http.aclose()

        runtime.background.append(asyncio.create_task(run(), name="notification-sender"))

    app = build_app(replace(DEFINITION, on_start=start_sending), settings, auth)
    app.state.notification = own
    return app
