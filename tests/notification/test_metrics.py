"""Is it stuck? /metrics answers per consumer (lag as the server sees it, processing time,
dead letters parked) and per webhook subscription (attempts by outcome, request time,
event-to-delivery latency), on the real stack."""

from __future__ import annotations

import re

from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_webhooks import secret


def value(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text, its labels in any order."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"([a-z_]+)\{(.*)\} (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if found == labels:
            return float(match.group(3))
    return None


def test_metrics_say_per_consumer_and_per_subscription_whether_it_is_stuck(
    notify: Notify,
) -> None:
    good, failing = LiveReceiver([secret()]), LiveReceiver([secret()])
    failing.failing = True
    good.up()
    failing.up()
    try:
        ok = notify.subscribe(good)
        ko = notify.subscribe(failing)
        case_id, refs = notify.new_case()
        notify.escalate(case_id, refs[:1])
        eventually(lambda: good.types_for(case_id), "the webhook arrives")
        eventually(lambda: failing.posts >= 2, "the failing receiver is tried again")
        metrics = eventually(
            lambda: (text := notify.client.get("/metrics").text)
            and value(text, "sexto_webhook_attempts_total", subscription=ok["id"], outcome="sent")
            and value(text, "sexto_webhook_attempts_total", subscription=ko["id"],
                      outcome="failed")
            and text,
            "both subscriptions' attempts are counted",
        )  # fmt: skip
    finally:
        good.down()
        failing.down()

    assert value(metrics, "sexto_webhook_attempts_total", subscription=ok["id"], outcome="sent")
    failed = value(metrics, "sexto_webhook_attempts_total", subscription=ko["id"], outcome="failed")
    assert failed is not None
    assert failed >= 2
    assert value(metrics, "sexto_webhook_delivery_seconds_count", subscription=ok["id"]) == 1
    assert value(metrics, "sexto_webhook_delivery_seconds_count", subscription=ko["id"]) is None
    assert value(metrics, "sexto_webhook_request_seconds_count", subscription=ok["id"],
                 outcome="sent") == 1  # fmt: skip
    # Each consumer of the service: its lag on the server, its dead letters, its pace.
    for durable in ("notification-dispatch", "notification-schools"):
        assert value(metrics, "sexto_consumer_pending", consumer=durable) is not None, durable
        assert value(metrics, "sexto_consumer_ack_pending", consumer=durable) is not None
        assert value(metrics, "sexto_consumer_redelivered_now", consumer=durable) is not None
        assert value(metrics, "sexto_consumer_dead_letters_parked", consumer=durable) == 0
    processed = value(metrics, "sexto_consumer_processing_seconds_count",
                      consumer="notification-dispatch")  # fmt: skip
    assert processed is not None
    assert processed > 0

    # A deleted subscription's label sets leave /metrics: they stay bounded by the live ones.
    for made in (ok, ko):
        gone = notify.client.delete(f"/v1/subscriptions/{made['id']}", headers=made["headers"])
        assert gone.status_code == 204
    after = notify.client.get("/metrics").text
    assert ok["id"] not in after
    assert ko["id"] not in after
