"""A new delivery goes out on its announcement (the dispatcher's NOTIFY), the next of its
recipient and case when the one before it ends; leases hold on that path too."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import EscalationAcknowledged, KitCollected, SealCheck
from sexto_events.commands import execute, no_state
from sexto_events.model import AppendResult, CaseRef, LoadedCase, NewEvent
from sexto_notification.projections.dispatch import WAKE_CHANNEL

from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_webhooks import secret

KIT = KitCollected(officer_ref="o1", seals=[SealCheck(seal_number="SX-9", intact=True)],
                   missing_seals=[], unexpected_seals=[], flagged=False)  # fmt: skip
ORDER = [
    "org.sexto.escalation.requested.v2",
    "org.sexto.escalation.acknowledged.v1",
    "org.sexto.escalation.kit_collected.v1",
]


def append_together(notify: Notify, case_id: str, *steps: EventData) -> None:
    """The steps in one append: one dispatch batch queues all their deliveries at once."""

    def decide(_: None, __: LoadedCase) -> list[NewEvent]:
        return [NewEvent(step, "disp-1", "police_dispatch") for step in steps]

    async def record() -> AppendResult:
        case = CaseRef(notify.world.territory, case_id)
        return await execute(
            notify.runtime.store, case, initial=None, evolve=no_state, decide=decide
        )

    notify.call(record)


def announce(notify: Notify, delivery_id: str) -> None:
    async def send() -> None:
        async with notify.runtime.pool.acquire() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, delivery_id)

    notify.call(send)


def test_a_new_delivery_is_sent_without_waiting_for_the_poll(unpolled: Notify) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        sub = unpolled.subscribe(receiver)
        case_id, refs = unpolled.new_case()
        unpolled.escalate(case_id, refs[:1])
        eventually(lambda: receiver.types_for(case_id) == ORDER[:1], "sent on its announcement",
                   within=10)  # fmt: skip
        eventually(
            lambda: unpolled.deliveries(sub["headers"], case_id=case_id, status="sent"),
            "settled as sent",
            within=10,
        )
        # The attempt's record reaches the outcomes read model from the log, after the row.
        outcomes = eventually(lambda: unpolled.notifications(case_id), "the attempt on the record")
        assert [n["outcome"] for n in outcomes] == ["sent"]
    finally:
        receiver.down()


def test_events_of_one_case_queued_together_go_one_after_the_other_in_order(
    unpolled: Notify,
) -> None:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        sub = unpolled.subscribe(receiver)
        cases = [unpolled.new_case() for _ in range(3)]
        for case_id, refs in cases:
            unpolled.escalate(case_id, refs[:1])
        for case_id, _ in cases:
            append_together(
                unpolled, case_id,
                EscalationAcknowledged(call_reference="911-5", dispatcher_ref="d1"), KIT,
            )  # fmt: skip
        eventually(lambda: all(len(receiver.types_for(c)) == 3 for c, _ in cases),
                   "all nine arrive", within=10)  # fmt: skip
        for case_id, _ in cases:
            assert receiver.types_for(case_id) == ORDER
        time.sleep(0.3)  # a duplicate would arrive now
        assert receiver.posts == 9

        def settled(case_id: str) -> list[dict[str, Any]] | None:
            sent = unpolled.deliveries(sub["headers"], case_id=case_id, status="sent")
            return sent if len(sent) == 3 else None

        for case_id, _ in cases:
            # Each row is settled after its attempt's record went to the log.
            sent = eventually(partial(settled, case_id), "all three settled as sent", within=10)
            assert len(sent) == 3
            assert all(d["attempts"] == 1 for d in sent)
    finally:
        receiver.down()


def test_a_lease_held_by_a_replica_that_died_is_respected_then_taken_over(
    unpolled: Notify,
) -> None:
    receiver = LiveReceiver([secret()])
    receiver.failing = True
    receiver.up()
    try:
        sub = unpolled.subscribe(receiver)
        case_id, refs = unpolled.new_case()
        unpolled.escalate(case_id, refs[:1])
        # The first attempt fails; with no poll its retry never comes on its own.
        [first] = eventually(
            lambda: [d for d in unpolled.deliveries(sub["headers"], case_id=case_id)
                     if d["attempts"] == 1 and d["status"] == "pending"],
            "the first attempt failed", within=10,
        )  # fmt: skip
        receiver.failing = False

        async def lease(until: str) -> None:
            async with unpolled.runtime.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE notification.deliveries SET next_attempt_at = now(), "
                    f"lease_token = 'dead-replica', leased_until = now() + interval '{until}' "
                    "WHERE id = $1",
                    first["id"],
                )

        # Claimed by a replica that died at once: announced, it is left alone.
        unpolled.call(lease, "1 minute")
        announce(unpolled, first["id"])
        time.sleep(0.5)
        assert receiver.posts == 1
        assert receiver.taken == []
        # Its lease over, the next announcement takes it: the same webhook-id, attempt 2.
        unpolled.call(lease, "-1 second")
        announce(unpolled, first["id"])
        eventually(lambda: receiver.taken, "sent once the lease is over", within=10)
        assert [i for i, _ in receiver.taken] == [first["id"]]
        assert receiver.headers[0]["webhook-id"] == receiver.headers[1]["webhook-id"]
        [settled] = eventually(
            lambda: unpolled.deliveries(sub["headers"], case_id=case_id, status="sent"),
            "settled", within=10,
        )  # fmt: skip
        assert settled["attempts"] == 2
        outcomes = eventually(
            lambda: n if len(n := unpolled.notifications(case_id)) == 2 else None,
            "both attempts on the record",
        )
        assert [(o["attempt"], o["outcome"]) for o in outcomes] == [(1, "failed"), (2, "sent")]
    finally:
        receiver.down()
