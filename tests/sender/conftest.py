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

from tests.notification.conftest import Captured, Notify, notification_app
from tests.support.services import caught_up
from tests.support.world import World


@pytest.fixture(scope="package")
def unpolled(
    world: World,
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Notify]:
    app = notification_app(
        nats_server, postgres, issuer_key_file,
        poll_s=3600.0, mail_dir=tmp_path_factory.mktemp("mail"),
    )  # fmt: skip
    with TestClient(app) as client:
        caught_up(client)
        yield Notify(client, world, Captured())


@pytest.fixture(autouse=True)
def _own_subscriptions(unpolled: Notify) -> Iterator[None]:
    yield
    unpolled.unsubscribe_all()
