"""The notification service with a sender that never polls within a test (`poll_s` of an
hour): whatever it sends, it took on an announcement. A package of its own, so that the
notification package's service (polling every 50 ms) is not running beside it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_notification.bootstrap import create_app
from sexto_notification.config import NotificationSettings
from sexto_service.auth.tokens import AuthSettings

from tests.notification.conftest import Captured, Notify
from tests.support.services import caught_up, service_settings
from tests.support.world import World


@pytest.fixture(scope="package")
def unpolled(
    world: World,
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Notify]:
    own = NotificationSettings(
        allow_insecure_urls=True,
        backoff_base_s=0.1,
        backoff_cap_s=0.4,
        poll_s=3600.0,
        request_timeout_s=2.0,
        mail_dir=tmp_path_factory.mktemp("mail"),
    )
    app = create_app(
        service_settings(nats_server, postgres), AuthSettings(local_key_file=issuer_key_file), own
    )
    with TestClient(app) as client:
        caught_up(client)
        yield Notify(client, world, Captured())


@pytest.fixture(autouse=True)
def _own_subscriptions(unpolled: Notify) -> Iterator[None]:
    yield
    unpolled.unsubscribe_all()
