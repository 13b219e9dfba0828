"""Webhooks: signed, in order per case, once each in effect, retried, failed after the cap."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sexto_events.catalogue.escalation import EscalationAcknowledged, KitCollected, SealCheck
from sexto_events.catalogue.notification import Channel, DeliveryAttempted
from sexto_events.principal import Role
from sexto_notification.app.mail import FolderTransport
from sexto_notification.projections.dispatch import delivery_id
from sexto_notification.reactors.sender import Sender, signature_header
from sexto_service.runtime import rebuild_read_model

from tests.notification.conftest import LiveReceiver, Notify, eventually


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def test_an_escalation_reaches_the_subscriber_signed_and_on_the_record(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        sub = notify.subscribe(receiver)
        assert sub["territory"] == notify.world.territory  # police: their territory
        case_id, refs = notify.new_case()
        request_id = notify.escalate(case_id, refs[:1])
        eventually(lambda: receiver.types_for(case_id), "the webhook arrives")
        msg_id, event = receiver.taken[-1]
        assert msg_id == delivery_id(request_id, Channel.WEBHOOK, sub["id"])
        assert event["type"] == "org.sexto.escalation.requested.v2"
        assert event["id"] == request_id
        assert event["territory"] == notify.world.territory
        assert event["data"]["students"][0]["student_ref"] == refs[0]
        # The report itself (intake.*) was not asked for and was not sent.
        assert receiver.types_for(case_id) == ["org.sexto.escalation.requested.v2"]
        assert receiver.helper.rejected == 0

        record = eventually(
            lambda: [n for n in notify.notifications(case_id) if n["channel"] == "webhook"],
            "the outcome is on the case's record",
        )
        assert record[0]["outcome"] == "sent"
        assert record[0]["final"] is True
        assert record[0]["recipient_ref"] == sub["id"]
        assert record[0]["attempt"] == 1
        assert record[0]["template_version"] == "cloudevents-json/v1"
        assert record[0]["about_event_id"] == request_id
        on_log = [e for e in notify.events(case_id) if isinstance(e.data, DeliveryAttempted)]
        assert [e.data.outcome.value for e in on_log if isinstance(e.data, DeliveryAttempted)] == [
            "sent"
        ]
        assert on_log[0].envelope.causationid == request_id
        cause = next(e for e in notify.events(case_id) if e.id == request_id)
        assert on_log[0].envelope.correlationid == cause.envelope.correlationid
        # Counted once the attempt is settled, just after its record went to the log.
        assert eventually(
            lambda: (
                'sexto_notification_attempts_total{channel="webhook",final="true",'
                'outcome="sent"}' in notify.client.get("/metrics").text
            ),
            "the attempt is counted",
        )
    finally:
        receiver.down()


def test_other_territories_and_schools_are_not_sent(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    world = notify.world

    def school_admin(school: str) -> dict[str, str]:
        subject = f"sa-{uuid.uuid4().hex[:6]}"
        return world.headers(Role.SCHOOL_ADMIN, subject=subject, school=school)

    try:
        # Each owner's filter holds its scope (a police force's territory, a school); an
        # admin, who sees no case, is no witness of what is sent (test_disclosure).
        elsewhere = notify.subscribe(
            receiver, headers=notify.police(territory="elsewhere"), types=["escalation.*"]
        )
        other_school = notify.subscribe(
            receiver, headers=school_admin(world.other_school), types=["intake.*"]
        )
        wanted = notify.subscribe(
            receiver, headers=school_admin(world.school),
            types=["org.sexto.intake.case_reported.v2"],
        )  # fmt: skip
        witness = LiveReceiver([secret()])
        witness.up()
        seen = notify.subscribe(witness, headers=school_admin(world.school))
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        # Once the witness has the escalation, every subscription has been matched to it.
        eventually(lambda: witness.types_for(case_id), "the witness gets the escalation")
        witness.down()
        eventually(lambda: receiver.types_for(case_id), "the wanted delivery arrives")
        assert receiver.types_for(case_id) == ["org.sexto.intake.case_reported.v2"]
        targets = {
            d["target"]
            for sub in (elsewhere, other_school, wanted, seen)
            for d in notify.deliveries(sub["headers"], case_id=case_id)
        }
        assert targets == {wanted["id"], seen["id"]}
        # Personal fields never leave by webhook: the summary and names are withheld.
        event = next(e for _, e in receiver.taken if e["subject"] == case_id)
        assert event["data"]["summary"] == {"withheld": True}
        assert all(s["name"] == {"withheld": True} for s in event["data"]["students"])
        assert "Quintessa" not in str(receiver.taken)
    finally:
        receiver.down()


def test_a_receiver_down_for_a_while_gets_each_event_once_in_order(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])  # not up yet
    sub = notify.subscribe(receiver)
    case_id, refs = notify.new_case()
    notify.escalate(case_id, refs[:1])
    notify.append(case_id, EscalationAcknowledged(call_reference="911-77", dispatcher_ref="d1"))
    notify.append(
        case_id,
        KitCollected(officer_ref="o1", seals=[SealCheck(seal_number="SX-9", intact=True)],
                     missing_seals=[], unexpected_seals=[], flagged=False),
    )  # fmt: skip
    # The first delivery fails against the closed port and is retried with backoff; the
    # ones behind it wait their turn (one case's events stay in order).
    first = eventually(
        lambda: [
            d for d in notify.deliveries(sub["headers"], case_id=case_id) if d["attempts"] >= 2
        ],
        "the first delivery is retried",
    )
    assert first[0]["event_type"] == "escalation.requested"
    assert first[0]["status"] == "pending"
    assert first[0]["last_error"].startswith("not reached")
    # The two behind it are queued as the dispatcher takes their events from the log.
    waiting = eventually(
        lambda: w if len(w := notify.deliveries(sub["headers"], case_id=case_id)) == 3 else None,
        "all three deliveries queued",
    )
    assert {d["attempts"] for d in waiting if d["id"] != first[0]["id"]} == {0}
    receiver.up()
    try:
        expected = [
            "org.sexto.escalation.requested.v2",
            "org.sexto.escalation.acknowledged.v1",
            "org.sexto.escalation.kit_collected.v1",
        ]
        eventually(lambda: len(receiver.types_for(case_id)) == 3, "all three arrive")
        assert receiver.types_for(case_id) == expected
        ids = [i for i, e in receiver.taken if e["subject"] == case_id]
        assert len(set(ids)) == 3
        record = eventually(
            lambda: (
                [n for n in notify.notifications(case_id) if n["outcome"] == "sent"]
                if len([n for n in notify.notifications(case_id) if n["outcome"] == "sent"]) == 3
                else None
            ),
            "three sent outcomes on the record",
        )
        assert sorted(n["about_type"] for n in record) == sorted(
            t.split(".", 2)[2].rsplit(".", 1)[0] for t in expected
        )
        failed = [n for n in notify.notifications(case_id) if n["outcome"] == "failed"]
        assert failed
        assert all(not n["final"] for n in failed)
    finally:
        receiver.down()


def test_an_always_failing_receiver_ends_in_a_failed_record_and_can_be_retried(
    notify: Notify,
) -> None:
    receiver = LiveReceiver([secret()])
    receiver.failing = True
    receiver.up()
    try:
        sub = notify.subscribe(receiver)
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        notify.append(case_id, EscalationAcknowledged(call_reference="911-78", dispatcher_ref="d"))
        failed = eventually(
            lambda: notify.deliveries(sub["headers"], status="failed", case_id=case_id),
            "the delivery is given up after the cap",
        )
        assert failed[0]["attempts"] == 6
        assert failed[0]["last_error"] == "http 503"
        attempts = eventually(
            lambda: (
                found
                if len(found := [n for n in notify.notifications(case_id)
                                 if n["delivery_id"] == failed[0]["id"]]) == 6
                else None
            ),
            "six attempts on the record",
        )  # fmt: skip
        assert [n["attempt"] for n in attempts] == [1, 2, 3, 4, 5, 6]
        assert [n["final"] for n in attempts] == [False] * 5 + [True]
        assert receiver.posts == 6
        # The acknowledgement waits behind the failed request: never out of order.
        held = [d for d in notify.deliveries(sub["headers"], case_id=case_id)
                if d["status"] == "pending"]  # fmt: skip
        assert [d["event_type"] for d in held] == ["escalation.acknowledged"]
        assert held[0]["attempts"] == 0

        other = notify.client.post(f"/v1/deliveries/{held[0]['id']}/retry", headers=sub["headers"])
        assert other.status_code == 409
        assert "only a failed delivery" in other.json()["detail"]
        stranger = notify.client.post(
            f"/v1/deliveries/{failed[0]['id']}/retry", headers=notify.police()
        )
        assert stranger.status_code == 404

        receiver.failing = False
        retried = notify.client.post(
            f"/v1/deliveries/{failed[0]['id']}/retry", headers=sub["headers"]
        )
        assert retried.status_code == 202, retried.text
        eventually(lambda: len(receiver.types_for(case_id)) == 2, "both arrive after the retry")
        assert receiver.types_for(case_id) == [
            "org.sexto.escalation.requested.v2",
            "org.sexto.escalation.acknowledged.v1",
        ]
        assert receiver.taken[0][0] == failed[0]["id"]  # the same webhook-id as before
    finally:
        receiver.down()


def test_rotation_signs_with_both_secrets_during_the_overlap(notify: Notify) -> None:
    old, new = secret(), secret()
    only_old, only_new = LiveReceiver([old]), LiveReceiver([new])
    only_new.port = only_old.port
    only_old.up()
    try:
        sub = notify.subscribe(only_old, secret=old)
        rotated = notify.client.post(
            f"/v1/subscriptions/{sub['id']}/secret",
            json={"secret": new, "overlap_seconds": 600},
            headers=sub["headers"],
        )
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["secret"] == new
        assert rotated.json()["previous_secret_valid_until"] is not None
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        eventually(lambda: only_old.types_for(case_id), "a receiver with the old secret verifies")
        only_old.down()
        only_new.up()
        notify.append(case_id, EscalationAcknowledged(call_reference="911-79", dispatcher_ref="d"))
        eventually(lambda: only_new.types_for(case_id), "a receiver with the new secret verifies")
        # A second rotation with a short overlap: once it has passed, the previous secret
        # (here `new`) no longer signs; only `newest` does.
        newest = secret()
        short = notify.client.post(
            f"/v1/subscriptions/{sub['id']}/secret",
            json={"secret": newest, "overlap_seconds": 1},
            headers=sub["headers"],
        )
        assert short.status_code == 200
        time.sleep(1.5)
        only_new.down()
        stale = LiveReceiver([new])
        stale.port = only_old.port
        stale.up()
        notify.append(
            case_id,
            KitCollected(officer_ref="o1", seals=[], missing_seals=["SX-9"], unexpected_seals=[],
                         flagged=True),
        )  # fmt: skip
        eventually(lambda: stale.helper.rejected >= 1, "the expired secret alone is refused")
        assert stale.types_for(case_id) == []
        stale.down()
        fresh = LiveReceiver([newest])
        fresh.port = only_old.port
        fresh.up()
        eventually(lambda: len(fresh.types_for(case_id)) == 1, "the newest secret verifies")
        fresh.down()
    finally:
        only_old.down()
        only_new.down()


def test_a_rebuild_sends_nothing_twice(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        sub = notify.subscribe(receiver)
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        eventually(
            lambda: notify.deliveries(sub["headers"], case_id=case_id, status="sent"), "sent"
        )
        record = eventually(lambda: notify.notifications(case_id), "the outcome is recorded")
        eventually(lambda: notify.all_sent_and_settled(case_id), "the delivery is settled")
        before = notify.deliveries(sub["headers"], case_id=case_id)
        notify.call(rebuild_read_model, notify.runtime, "dispatch")

        def rebuilt_record() -> bool:
            response = notify.client.get(
                f"/v1/cases/{case_id}/notifications", headers=notify.world.headers()
            )
            return bool(response.status_code == 200 and response.json() == record)

        eventually(rebuilt_record, "the record is rebuilt the same")
        assert notify.deliveries(sub["headers"], case_id=case_id) == before
        notify.append(case_id, EscalationAcknowledged(call_reference="911-80", dispatcher_ref="d"))
        eventually(lambda: len(receiver.types_for(case_id)) == 2, "the next event still flows")
        assert receiver.posts == 2

        # Even the outbox lost: the replay queues the deliveries again, and the sender finds
        # them sent on the case's record instead of sending them again.
        async def lose_outbox() -> None:
            async with notify.runtime.pool.acquire() as conn:
                await conn.execute(
                    "DELETE FROM notification.deliveries WHERE case_id = $1", case_id
                )

        notify.call(lose_outbox)
        notify.call(rebuild_read_model, notify.runtime, "dispatch")
        restored = eventually(
            lambda: (
                found
                if len(found := notify.deliveries(sub["headers"], case_id=case_id, status="sent"))
                == 2
                else None
            ),
            "the restored outbox shows both deliveries sent",
        )
        assert {d["id"] for d in restored} == {d["id"] for d in before} | {
            d["id"] for d in restored if d["event_type"] == "escalation.acknowledged"
        }
        assert receiver.posts == 2
    finally:
        receiver.down()


def test_subscriptions_refuse_what_they_cannot_honour(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    post = notify.client.post

    def problem(body: dict[str, object], headers: dict[str, str] | None = None) -> tuple[int, str]:
        response = post("/v1/subscriptions", json=body, headers=headers or police)
        assert response.headers["content-type"].startswith("application/problem+json")
        return response.status_code, str(response.json())

    base: dict[str, object] = {"url": receiver.url, "types": ["escalation.*"]}
    status, text = problem({**base, "types": ["notification.*"]})
    assert status == 422
    assert "not sent by webhook" in text
    status, text = problem({**base, "types": ["escalation.nope"]})
    assert status == 422
    assert "no such event type" in text
    status, text = problem({**base, "territory": "another-force"})
    assert status == 403
    assert notify.world.territory in text
    status, text = problem({**base, "secret": "not-a-secret"})
    assert status == 422
    assert "whsec_" in text
    status, text = problem({**base, "colour": "blue"})
    assert status == 422
    assert "colour" in text
    status, _ = problem(base, notify.world.headers())
    assert status == 403
    assert post("/v1/subscriptions", json=base).status_code == 401

    made = notify.subscribe(receiver, headers=police)
    assert made["secret"].startswith("whsec_")
    listed = notify.client.get("/v1/subscriptions", headers=police).json()
    assert [s["id"] for s in listed] == [made["id"]]
    assert "whsec_" not in str(listed)
    assert all("secret" not in s for s in listed)
    other = notify.client.get(f"/v1/subscriptions/{made['id']}", headers=notify.police())
    assert other.status_code == 404
    gone = notify.client.delete(f"/v1/subscriptions/{made['id']}", headers=police)
    assert gone.status_code == 204
    assert notify.client.get("/v1/subscriptions", headers=police).json() == []


def test_police_receive_escalated_cases_only(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        notify.subscribe(receiver, types=["intake.*", "escalation.*"])
        quiet, _ = notify.new_case()
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        eventually(lambda: receiver.types_for(case_id), "the escalation arrives")
        # The report came before the escalation: not sent. Nothing of the other case either.
        assert receiver.types_for(case_id) == ["org.sexto.escalation.requested.v2"]
        assert receiver.types_for(quiet) == []
    finally:
        receiver.down()


def test_a_failed_delivery_can_be_cancelled_to_let_the_rest_through(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    receiver.failing = True
    receiver.up()
    try:
        sub = notify.subscribe(receiver)
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        notify.append(case_id, EscalationAcknowledged(call_reference="911-82", dispatcher_ref="d"))
        [failed] = eventually(
            lambda: notify.deliveries(sub["headers"], status="failed", case_id=case_id), "failed"
        )
        receiver.failing = False
        cancelled = notify.client.post(
            f"/v1/deliveries/{failed['id']}/cancel", headers=sub["headers"]
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        eventually(lambda: receiver.types_for(case_id), "the held delivery goes")
        assert receiver.types_for(case_id) == ["org.sexto.escalation.acknowledged.v1"]
        again = notify.client.post(f"/v1/deliveries/{failed['id']}/cancel", headers=sub["headers"])
        assert again.status_code == 409
    finally:
        receiver.down()


def test_a_repeated_subscription_request_makes_one_subscription(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    key = {"Idempotency-Key": "sub-key-0001"}
    body = {"url": receiver.url, "types": ["escalation.*"]}
    first = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})
    second = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()  # same id, same secret
    notify.made.append((first.json()["id"], police))
    other = notify.client.post(
        "/v1/subscriptions", json={**body, "types": ["intake.*"]}, headers={**police, **key}
    )
    # Another request under the same key: a 422, as in every service (it was a 409 here).
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert "Idempotency-Key" in other.json()["detail"]
    assert len(notify.client.get("/v1/subscriptions", headers=police).json()) == 1
    rotated = notify.client.post(
        f"/v1/subscriptions/{first.json()['id']}/secret", json={}, headers=police
    )
    assert rotated.status_code == 200
    after_rotation = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})
    assert after_rotation.status_code == 409
    assert "rotated" in after_rotation.json()["detail"]
    assert rotated.json()["secret"] not in after_rotation.text


def test_two_senders_share_the_work_without_sending_twice_or_out_of_order(
    notify: Notify,
) -> None:
    # A second replica's sender on the same database and log, beside the service's own.
    settings = notify.client.app.state.notification  # type: ignore[attr-defined]
    http = httpx.AsyncClient()
    second = Sender(notify.runtime, settings, FolderTransport(Path("/nonexistent")), http)
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        tasks.append(asyncio.create_task(second.run()))

    async def stop() -> None:
        tasks[0].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[0]
        await http.aclose()

    notify.call(start)
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        notify.subscribe(receiver)
        cases = [notify.new_case() for _ in range(4)]
        steps = [
            EscalationAcknowledged(call_reference=f"911-{n}", dispatcher_ref="d") for n in range(3)
        ]
        for case_id, refs in cases:
            notify.escalate(case_id, refs[:1])
        for step in steps:
            for case_id, _ in cases:
                notify.append(case_id, step)
        eventually(lambda: all(len(receiver.types_for(c)) == 4 for c, _ in cases), "all 16 arrive")
        time.sleep(0.5)  # any duplicate would arrive now
        assert receiver.posts == 16  # every POST, duplicates included
        for case_id, _ in cases:
            got = [e["data"].get("call_reference") for _, e in receiver.taken
                   if e["subject"] == case_id]  # fmt: skip
            assert got == [None, "911-0", "911-1", "911-2"]
    finally:
        notify.call(stop)
        receiver.down()


def test_an_attempt_already_on_the_record_is_not_made_again(notify: Notify) -> None:
    """A sender that takes a delivery whose attempt is recorded (it crashed after recording,
    or the outbox was rebuilt) settles the row from the record and sends nothing."""
    receiver = LiveReceiver([secret()])
    receiver.up()
    settings = notify.client.app.state.notification  # type: ignore[attr-defined]
    http = httpx.AsyncClient()
    sender = Sender(notify.runtime, settings, FolderTransport(Path("/nonexistent")), http)
    try:
        sub = notify.subscribe(receiver)
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        [sent] = eventually(
            lambda: notify.deliveries(sub["headers"], case_id=case_id, status="sent"), "sent"
        )

        async def replay_as_if_unsent() -> None:
            async with notify.runtime.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "UPDATE notification.deliveries SET status = 'pending', attempts = 0, "
                    "next_attempt_at = now() + interval '1 hour', lease_token = 'test', "
                    "leased_until = now() + interval '1 minute' WHERE id = $1 RETURNING *",
                    sent["id"],
                )
            assert row is not None
            await sender._attempt(dict(row))

        notify.call(replay_as_if_unsent)
        [after] = notify.deliveries(sub["headers"], case_id=case_id)
        assert after["status"] == "sent"
        assert after["attempts"] == 1
        assert receiver.posts == 1
    finally:
        notify.call(http.aclose)
        receiver.down()


def test_the_receiver_keeps_a_connection_for_the_next_delivery_and_closes_it_when_closed(
    notify: Notify,
) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    try:
        for n in range(2):
            body = json.dumps({"type": "t", "subject": f"c{n}"}).encode()
            now, msg_id = datetime.now(UTC), f"d-{n}"
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature_header(receiver.secrets, msg_id, now, body.decode()),
            }
            conn.request("POST", "/hooks/sexto", body=body, headers=headers)
            assert conn.getresponse().read() == b""
            if n == 0:
                first = conn.sock
                assert first is not None  # kept open: HTTP/1.1, the answer's length given
        assert conn.sock is first  # the second delivery came on the same connection
        assert [i for i, _ in receiver.taken] == ["d-0", "d-1"]
        receiver.down()
        assert first.recv(1) == b""  # closed with the server, as a stopped process would
    finally:
        conn.close()
        receiver.down()
