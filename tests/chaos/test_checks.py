"""The chaos run's checks that need no servers."""

from __future__ import annotations

from chaos.checks import sent_under_several_ids


def test_an_event_sent_under_two_webhook_ids_is_a_duplicate() -> None:
    event_of = {
        "msg_a1": "ev-1",
        "msg_a2": "ev-1",  # the same event, a second delivery
        "msg_b": "ev-2",
        "msg_c1": "ev-3",
        "msg_c2": "ev-3",
        "msg_c3": "ev-3",
    }

    assert sent_under_several_ids(event_of) == [
        "event ev-1: webhook x2 under distinct webhook-ids",
        "event ev-3: webhook x3 under distinct webhook-ids",
    ]


def test_one_webhook_id_per_event_is_no_duplicate() -> None:
    # Resending under the same webhook-id is a retry the partner de-duplicates, counted apart.
    assert sent_under_several_ids({"msg_a": "ev-1", "msg_b": "ev-2", "msg_x": ""}) == []
