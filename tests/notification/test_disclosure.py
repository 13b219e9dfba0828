"""Who sees what through the notification service: webhooks as the subscription owner's role
is shown them, e-mails to staff by their role's row and to parents with no case data, and
every REST answer by the caller's row (sexto_events.disclosure)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sexto_events.disclosure as disclosure
from pydantic import BaseModel
from sexto_events.catalogue.escalation import EscalationAcknowledged
from sexto_events.catalogue.intake import NoteAdded, StudentAdded, StudentInvolved, StudentRole
from sexto_events.disclosure import DataClass, Treatment, unclassified_fields
from sexto_events.principal import Role
from sexto_notification.domain.mail_contents import ParentLetter, StaffStep, mail_values
from sexto_notification.entrypoints.schemas import (
    DeliveryOut,
    NotificationOut,
    SubscriptionOut,
    SubscriptionWithSecret,
)

from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_email import mail_to, register, text_of
from tests.notification.test_webhooks import secret

WITHHELD = {"withheld": True}
# The invented names and free text of sexto_report, and what this module adds.
NAMES = ("Maëlle", "Quintessa", "Orvald", "Pennywhistle", "Tamsin", "Greyleaf", "Zephyrine")
SUMMARY = "A photo of a student was shared in a group chat"
NOTE = "Orvald Pennywhistle admitted forwarding it"
PARENT_EMAIL = "parent.disclosure@example.org"


@pytest.mark.parametrize(
    "model",
    [SubscriptionOut, SubscriptionWithSecret, DeliveryOut, NotificationOut, ParentLetter,
     StaffStep],
)  # fmt: skip
def test_every_field_of_every_answer_and_message_declares_its_class(
    model: type[BaseModel],
) -> None:
    assert unclassified_fields(model) == []


def _bodies(notify: Notify, case_id: str) -> list[str]:
    async def stored() -> list[str]:
        async with notify.runtime.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT body FROM notification.deliveries WHERE case_id = $1 AND body IS NOT NULL",
                case_id,
            )
        return [r["body"] for r in rows]

    found: list[str] = notify.call(stored)
    return found


def _of(receiver: LiveReceiver, case_id: str, suffix: str) -> dict[str, Any]:
    return next(
        e for _, e in receiver.taken if e["subject"] == case_id and e["type"].endswith(suffix)
    )


def test_each_subscriber_gets_the_event_as_its_owners_role_is_shown_it(notify: Notify) -> None:
    """A police_dispatch subscriber is never sent a name, a summary, a note or a parent's
    address, and is sent the intervener to call back; a school admin's subscriber gets the
    same events by its own row."""
    world = notify.world
    police_hook, school_hook = LiveReceiver([secret()]), LiveReceiver([secret()])
    police_hook.up()
    school_hook.up()
    everything = ["intake.*", "escalation.*"]
    try:
        notify.subscribe(police_hook, types=everything)
        school_admin = world.headers(Role.SCHOOL_ADMIN, subject="sa-disc", school=world.school)
        notify.subscribe(school_hook, headers=school_admin, types=everything)
        case_id, refs = notify.new_case()
        parent = register(
            notify, case_id, recipient_ref="p-disc", kind="parent", student_ref=refs[0],
            email=PARENT_EMAIL,
        )  # fmt: skip
        assert parent.status_code == 201, parent.text  # type: ignore[attr-defined]
        notify.escalate(case_id, refs[:1])
        notify.append(case_id, EscalationAcknowledged(call_reference="911-D1", dispatcher_ref="d9"))
        notify.append(case_id, NoteAdded(text=NOTE), role="intervener")
        added = StudentInvolved(
            student_ref="s-late", roles=[StudentRole.REDISTRIBUTOR], age=16,
            name="Zephyrine Oakhollow",
        )  # fmt: skip
        notify.append(case_id, StudentAdded(student=added), role="intervener")
        last = "org.sexto.intake.student_added.v2"
        eventually(lambda: last in police_hook.types_for(case_id), "police get the last event")
        eventually(lambda: last in school_hook.types_for(case_id), "the school gets it too")

        # Police dispatch: an escalated case only (the report came before), by its row.
        assert police_hook.types_for(case_id) == [
            "org.sexto.escalation.requested.v2",
            "org.sexto.escalation.acknowledged.v1",
            "org.sexto.intake.note_added.v1",
            last,
        ]
        sent_to_police = json.dumps([e for _, e in police_hook.taken], ensure_ascii=False)
        for secret_text in (*NAMES, SUMMARY, NOTE, PARENT_EMAIL):
            assert secret_text not in sent_to_police
        requested = _of(police_hook, case_id, "escalation.requested.v2")
        assert requested["data"]["intervener_ref"] == world.intervener  # callback: shown
        assert requested["data"]["students"][0]["student_ref"] == refs[0]
        assert requested["data"]["seal_numbers"] == ["SX-9"]
        assert requested["actor"] == WITHHELD  # staff: only the intervener to call
        acknowledged = _of(police_hook, case_id, "escalation.acknowledged.v1")
        assert acknowledged["data"]["call_reference"] == "911-D1"  # external ref: shown
        assert acknowledged["data"]["dispatcher_ref"] == WITHHELD
        assert _of(police_hook, case_id, "note_added.v1")["data"]["text"] == WITHHELD
        student = _of(police_hook, case_id, "student_added.v2")["data"]["student"]
        assert student == {"student_ref": "s-late", "roles": ["redistributor"], "age": WITHHELD,
                           "grade": None, "name": WITHHELD}  # fmt: skip

        # A school admin: the report too, the staff who acted, no 911 reference, no grid.
        reported = _of(school_hook, case_id, "intake.case_reported.v2")
        assert reported["data"]["summary"] == WITHHELD
        assert reported["actor"] == world.intervener
        assert all(s["name"] == WITHHELD and s["age"] == WITHHELD
                   for s in reported["data"]["students"])  # fmt: skip
        acknowledged = _of(school_hook, case_id, "escalation.acknowledged.v1")
        assert acknowledged["data"]["call_reference"] == WITHHELD
        assert acknowledged["data"]["dispatcher_ref"] == "d9"
        sent_to_school = json.dumps([e for _, e in school_hook.taken], ensure_ascii=False)
        for secret_text in (*NAMES, SUMMARY, NOTE, PARENT_EMAIL):
            assert secret_text not in sent_to_school

        # The outbox keeps only what is sent: no name, no free text, no address at rest.
        stored = " ".join(_bodies(notify, case_id))
        for secret_text in (*NAMES, SUMMARY, NOTE, PARENT_EMAIL):
            assert secret_text not in stored
    finally:
        police_hook.down()
        school_hook.down()


def _says_nothing(answer: dict[str, Any], model: type[BaseModel]) -> bool:
    """Every field of the model there, each withheld (an absent value stays null)."""
    return (
        set(answer) == set(model.model_fields)
        and answer["id"] == WITHHELD
        and all(value in (WITHHELD, None) for value in answer.values())
    )


def test_an_admin_operates_webhooks_but_hears_of_no_case_and_reads_no_case_id(
    notify: Notify,
) -> None:
    """Admins manage subscriptions and deliveries and see no case: a subscription of theirs
    hears of none, and what they read of others' deliveries has the case withheld."""
    world = notify.world
    receiver, witness = LiveReceiver([secret()]), LiveReceiver([secret()])
    receiver.up()
    witness.up()
    admin = world.headers(Role.ADMIN, subject=f"admin-{uuid.uuid4().hex[:6]}")
    school_admin = world.headers(Role.SCHOOL_ADMIN, subject="sa-witness", school=world.school)
    try:
        sub = notify.subscribe(
            receiver, headers=admin, school_id=world.school, types=["intake.case_reported"]
        )
        notify.subscribe(witness, headers=school_admin, types=["intake.case_reported"])
        case_id, _ = notify.new_case()
        eventually(lambda: witness.types_for(case_id), "the school admin's webhook")

        assert receiver.types_for(case_id) == []
        listed = notify.client.get("/v1/subscriptions", headers=admin).json()
        assert sub["id"] in {s["id"] for s in listed}  # the record's bookkeeping: shown
        one = notify.client.get(f"/v1/subscriptions/{sub['id']}", headers=admin)
        assert one.status_code == 200
        assert one.json()["school_id"] == WITHHELD
        deliveries = notify.deliveries(admin)
        assert deliveries  # every subscriber's, the witness's included
        assert all(d["case_id"] == WITHHELD for d in deliveries)
        assert all(d["status"] != WITHHELD for d in deliveries)
        assert case_id not in json.dumps(deliveries)
    finally:
        receiver.down()
        witness.down()


def test_the_record_of_notifications_as_each_reader_sees_it(notify: Notify) -> None:
    world = notify.world
    case_id, refs = notify.new_case()
    response = register(
        notify, case_id, recipient_ref="p-seen", kind="parent", student_ref=refs[0],
        email="parent.seen@example.org",
    )  # fmt: skip
    assert response.status_code == 201  # type: ignore[attr-defined]
    [as_intervener] = eventually(lambda: notify.notifications(case_id), "the outcome")

    def read(headers: dict[str, str]) -> list[dict[str, Any]]:
        answer = notify.client.get(f"/v1/cases/{case_id}/notifications", headers=headers)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    assert as_intervener["recipient_ref"] == "p-seen"
    reviewer = world.headers(Role.LEGAL_REVIEWER, subject="lr-disc")
    school_admin = world.headers(Role.SCHOOL_ADMIN, subject="sa-rec", school=world.school)
    assert read(reviewer) == [as_intervener]
    assert read(school_admin) == [as_intervener]
    # An analyst: the same record, the recipient as the pseudonym every analyst read uses.
    [as_analyst] = read(world.headers(Role.ANALYST, subject="an-disc"))
    pseudonym = notify.runtime.pseudonyms.name("recipient", f"{case_id}:p-seen")  # keyed by case
    assert as_analyst == {**as_intervener, "recipient_ref": pseudonym}
    assert pseudonym != "p-seen"
    # Police see escalated cases only; this one is not.
    police = notify.client.get(f"/v1/cases/{case_id}/notifications", headers=notify.police())
    assert police.status_code == 404


def test_a_parents_letter_carries_no_case_data_beyond_where_to_turn(notify: Notify) -> None:
    case_id, refs = notify.new_case()
    notify.append(case_id, NoteAdded(text=NOTE), role="intervener")
    address = "parent.letter@example.org"
    response = register(
        notify, case_id, recipient_ref="p-letter", kind="parent", student_ref=refs[1],
        email=address,
    )  # fmt: skip
    assert response.status_code == 201  # type: ignore[attr-defined]
    [message] = eventually(lambda: mail_to(notify, address), "the letter arrives")
    whole = str(message) + text_of(message)
    for secret_text in (*NAMES, SUMMARY, NOTE, *refs):
        assert secret_text not in whole
    assert "École fictive A" in whole  # the school, to turn to
    assert case_id in whole  # the reference to quote to it

    # Whatever the sender knows of the case, a parent's letter is filled with its three.
    facts = {"case_id": case_id, "school": "École fictive A", "protocol_version": "sexto-qc v1",
             "step": "assessment completed", "at": "2026-11-02T14:30:00Z",
             "summary": SUMMARY, "name": NAMES[0], "note": NOTE}  # fmt: skip
    assert mail_values("parent", facts, case_id) == {
        "case_id": case_id, "school": "École fictive A", "protocol_version": "sexto-qc v1",
    }  # fmt: skip


def test_what_a_staff_message_says_follows_its_roles_row(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = {"case_id": "c-1", "school": "École fictive A", "protocol_version": "sexto-qc v1",
             "step": "case closed", "at": "2026-11-02T14:30:00Z", "summary": SUMMARY}  # fmt: skip
    expected = {k: v for k, v in facts.items() if k != "summary"}
    assert mail_values("intervener", facts, "c-1") == expected
    assert mail_values("safeguarding_lead", facts, "c-1") == expected
    # Were the table to withhold the outcome from a safeguarding lead, their message would
    # say so in the one placeholder: what staff are sent goes through `disclose`.
    narrower = dict(disclosure.POLICY)
    narrower[Role.SAFEGUARDING_LEAD] = {
        **disclosure.POLICY[Role.SAFEGUARDING_LEAD],
        DataClass.OUTCOME: Treatment.WITHHELD,
    }
    monkeypatch.setattr(disclosure, "POLICY", narrower)
    shown = mail_values("safeguarding_lead", facts, "c-1")
    assert shown == {**expected, "step": json.dumps(WITHHELD)}
    assert mail_values("intervener", facts, "c-1") == expected
