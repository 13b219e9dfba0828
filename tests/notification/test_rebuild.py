"""`sexto rebuild notification` gives identical read models (the outbox is kept)."""

from __future__ import annotations

import base64
from functools import partial
from pathlib import Path
from typing import Any

from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres

from tests.cli.conftest import Cli
from tests.conftest import MASTER_KEY
from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_webhooks import secret
from tests.support.services import settled_rows

TABLES = ["cases", "recipients", "outcomes", "deliveries", "schools"]


def test_rebuilding_notification_gives_identical_read_models(
    notify: Notify, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        sub = notify.subscribe(receiver)
        case_id, refs = notify.new_case()
        response = notify.client.post(
            f"/v1/cases/{case_id}/recipients",
            json={"recipient_ref": "iv-r", "kind": "intervener", "email": "iv.r@school.example"},
            headers=notify.world.headers(),
        )
        assert response.status_code == 201, response.text
        notify.escalate(case_id, refs[:1])
        eventually(
            lambda: len(notify.deliveries(sub["headers"], case_id=case_id, status="sent")) == 1,
            "the webhook is sent",
        )
        eventually(lambda: len(notify.notifications(case_id)) == 2, "both outcomes recorded")
        eventually(lambda: notify.all_sent_and_settled(case_id), "both deliveries settled")

        async def dump() -> dict[str, list[tuple[Any, ...]]]:
            runtime = notify.runtime
            dispatch = next(c for c in runtime.consumers if c.handler.name == "dispatch")
            await settled_rows(runtime, dispatch, "SELECT 1")
            out = {}
            async with runtime.pool.acquire() as conn:
                for table in TABLES:
                    rows = await conn.fetch(f"SELECT * FROM notification.{table}")
                    # Every column sorts: rows of one case (several recipients) have no
                    # order of their own in the table.
                    out[table] = sorted((tuple(r.values()) for r in rows), key=repr)
            return out

        before = notify.call(dump)
        cli = Cli({
            "SEXTO_ENVIRONMENT": "test",
            "SEXTO_NATS_URL": nats_server.url,
            "SEXTO_DATABASE_URL": postgres.dsn,
            "SEXTO_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
            "SEXTO_AUTH_LOCAL_KEY_FILE": str(issuer_key_file),
            "COLUMNS": "200",
        })  # fmt: skip
        # The test's service keeps running: forced (an operator stops the service first).
        result = notify.call(partial(cli, "rebuild", "notification", "--force", role="admin"))
        assert result.exit_code == 0, result.output
        assert "rebuilt notification-dispatch" in result.stdout
        after = notify.call(dump)
        assert after == before
        assert any(row[0] == case_id for row in before["cases"])
        assert len([r for r in before["outcomes"] if r[1] == case_id]) == 2
        assert receiver.posts == 1  # nothing sent again
    finally:
        receiver.down()
