"""Notification's writes under the one Idempotency-Key mechanism."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sexto_events.model import CaseRef
from sexto_notification.app import subscriptions as subscription_handlers

from tests.notification.conftest import LiveReceiver, Notify
from tests.notification.test_webhooks import secret


def registrations(notify: Notify, case_id: str) -> list[str]:
    """The recipients registered on the case's record (deliveries are recorded meanwhile)."""
    runtime = notify.client.app.state.runtime  # type: ignore[attr-defined]
    case = CaseRef(notify.world.territory, case_id)
    events = notify.client.portal.call(runtime.store.load, case).events  # type: ignore[union-attr]
    return [e.id for e in events if e.envelope.type.endswith("recipient_registered.v1")]


def test_a_recipient_replayed_with_its_key_records_nothing_and_another_is_a_422(
    notify: Notify,
) -> None:
    case_id, refs = notify.new_case()
    headers = {**notify.world.headers(), "Idempotency-Key": uuid.uuid4().hex}
    body = {"recipient_ref": "p-idem", "kind": "parent", "student_ref": refs[0],
            "email": "p-idem@example.org"}  # fmt: skip
    path = f"/v1/cases/{case_id}/recipients"
    first = notify.client.post(path, json=body, headers=headers)
    before = registrations(notify, case_id)

    again = notify.client.post(path, json=body, headers=headers)
    other = notify.client.post(path, json={**body, "recipient_ref": "p-other"}, headers=headers)

    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert registrations(notify, case_id) == before
    assert len(before) == 1


def test_a_subscription_replayed_after_its_deletion_is_refused_and_shows_no_secret(
    notify: Notify,
) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"url": receiver.url, "types": ["escalation.*"]}
    made = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})
    assert made.status_code == 201, made.text
    delete_key = {"Idempotency-Key": uuid.uuid4().hex}
    gone = notify.client.delete(f"/v1/subscriptions/{made.json()['id']}",
                                headers={**police, **delete_key})  # fmt: skip
    gone_again = notify.client.delete(f"/v1/subscriptions/{made.json()['id']}",
                                      headers={**police, **delete_key})  # fmt: skip

    replay = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})
    french = notify.client.post("/v1/subscriptions", json=body,
                                headers={**police, **key, "Accept-Language": "fr"})  # fmt: skip

    assert gone.status_code == gone_again.status_code == 204
    assert gone_again.headers["idempotent-replayed"] == "true"
    assert replay.status_code == 409
    assert "deleted" in replay.json()["detail"]
    assert made.json()["secret"] not in replay.text
    assert french.json()["detail"].startswith("cette Idempotency-Key a créé un abonnement")


def kept_answer(notify: Notify, key: str) -> bytes:
    """The answer the Idempotency-Key record keeps for this key, as stored."""
    runtime = notify.client.app.state.runtime  # type: ignore[attr-defined]

    async def kept() -> bytes:
        async with runtime.pool.acquire() as conn:
            body = await conn.fetchval(
                "SELECT body FROM notification.idempotency_keys WHERE key = $1", key
            )
        return bytes(body)

    return bytes(notify.client.portal.call(kept))  # type: ignore[union-attr]


def test_the_idempotency_record_never_holds_a_webhook_secret(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    key = uuid.uuid4().hex
    made = notify.client.post(
        "/v1/subscriptions", json={"url": receiver.url, "types": ["escalation.*"]},
        headers={**police, "Idempotency-Key": key},
    )  # fmt: skip
    assert made.status_code == 201
    notify.made.append((made.json()["id"], police))
    stored = kept_answer(notify, key)
    assert made.json()["id"].encode() in stored
    assert made.json()["secret"].encode() not in stored


def test_subscription_refusals_answer_in_french(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    police = {**notify.police(), "Accept-Language": "fr-CA"}
    base = {"url": receiver.url, "types": ["escalation.*"]}

    def refused(body: dict[str, object]) -> dict[str, object]:
        answer = notify.client.post("/v1/subscriptions", json=body, headers=police)
        assert answer.headers["content-language"] == "fr"
        problem: dict[str, object] = answer.json()
        problem["status"] = answer.status_code
        return problem

    bad_secret = refused({**base, "secret": "not-a-secret"})
    bad_type = refused({**base, "types": ["escalation.nope"]})
    other_territory = refused({**base, "territory": "another-force"})

    assert bad_secret["status"] == bad_type["status"] == 422
    assert bad_secret["detail"] == (
        "secret : valeur refusée (le secret doit avoir la forme whsec_<base64 de 24 à 48 octets>)"
    )
    assert "aucun type d'événement de ce nom" in str(bad_type["detail"])
    assert other_territory["status"] == 403
    assert other_territory["detail"] == (
        f"vous ne pouvez vous abonner qu'au territoire {notify.world.territory}"
    )


def test_a_rotation_replayed_is_refused_and_its_secret_is_never_kept(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    made = notify.client.post(
        "/v1/subscriptions", json={"url": receiver.url, "types": ["escalation.*"]},
        headers={**police, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    notify.made.append((made.json()["id"], police))
    key = uuid.uuid4().hex
    rotation = f"/v1/subscriptions/{made.json()['id']}/secret"

    rotated = notify.client.post(rotation, json={}, headers={**police, "Idempotency-Key": key})
    replay = notify.client.post(rotation, json={}, headers={**police, "Idempotency-Key": key})
    stored = kept_answer(notify, key)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].encode() not in stored
    assert replay.status_code == 409
    assert "shown only once" in replay.json()["detail"]
    assert rotated.json()["secret"] not in replay.text


def test_a_subscription_retried_after_a_503_that_followed_its_commit_is_made_once(
    notify: Notify, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"url": receiver.url, "types": ["escalation.*"]}
    create = subscription_handlers.create_subscription

    async def committed_then_cut(*args: Any, **kwargs: Any) -> dict[str, Any]:
        await create(*args, **kwargs)
        raise ConnectionError("connection reset after the commit")  # the answer is lost

    monkeypatch.setattr(subscription_handlers, "create_subscription", committed_then_cut)
    lost = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})
    monkeypatch.setattr(subscription_handlers, "create_subscription", create)
    retried = notify.client.post("/v1/subscriptions", json=body, headers={**police, **key})

    assert lost.status_code == 503, lost.text
    assert retried.status_code == 201, retried.text
    notify.made.append((retried.json()["id"], police))
    listed = notify.client.get("/v1/subscriptions", headers=police).json()
    assert [s["id"] for s in listed] == [retried.json()["id"]]
    assert retried.json()["secret"].startswith("whsec_")  # the one it was made with


def test_a_caller_may_hold_at_most_fifty_subscriptions(notify: Notify) -> None:
    receiver = LiveReceiver([secret()])
    police = notify.police()
    body = {"url": receiver.url, "types": ["escalation.*"]}
    for _ in range(subscription_handlers.MAX_SUBSCRIPTIONS_PER_CALLER):
        made = notify.client.post("/v1/subscriptions", json=body, headers=police)
        assert made.status_code == 201, made.text
        notify.made.append((made.json()["id"], police))

    refused = notify.client.post("/v1/subscriptions", json=body, headers=police)
    sub_id, _ = notify.made.pop()
    assert notify.client.delete(f"/v1/subscriptions/{sub_id}", headers=police).status_code == 204
    again = notify.client.post("/v1/subscriptions", json=body, headers=police)

    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "50 subscriptions" in refused.json()["detail"]
    assert again.status_code == 201, again.text
    notify.made.append((again.json()["id"], police))
