"""E-mail: parents get the information documents in the school's language, staff each step;
captured by a real SMTP server (aiosmtpd); every attempt on the case's record."""

from __future__ import annotations

from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sexto_devstack.procs import free_port
from sexto_events.catalogue.escalation import EscalationAcknowledged
from sexto_events.catalogue.intake import CaseClosed
from sexto_events.catalogue.notification import RecipientRegistered
from sexto_events.model import CaseRef
from sexto_events.principal import Role
from sexto_notification.app.mail import MailFailure, SmtpTransport, build
from sexto_notification.config import NotificationSettings
from sexto_notification.templates import render, template_name

from tests.notification.conftest import Captured, Notify, eventually

NAMES = ("Maëlle", "Quintessa", "Orvald", "Pennywhistle", "Tamsin", "Greyleaf")


def mail_to(notify: Notify, address: str) -> list[Message]:
    return [m for m in notify.mailbox.messages if m["To"] == address]


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def register(notify: Notify, case_id: str, **body: object) -> object:
    return notify.client.post(
        f"/v1/cases/{case_id}/recipients", json=body, headers=notify.world.headers()
    )


def test_a_parent_receives_the_information_documents_in_the_schools_language(
    notify: Notify,
) -> None:
    case_id, refs = notify.new_case()
    response = register(
        notify, case_id, recipient_ref="p-1", kind="parent", student_ref=refs[0],
        email="parent.one@example.org",
    )  # fmt: skip
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    [message] = eventually(lambda: mail_to(notify, "parent.one@example.org"), "the mail arrives")
    text = text_of(message)
    assert "protocole SEXTO" in message["Subject"]
    assert case_id in message["Subject"]
    assert "Madame, Monsieur" in text
    assert "École fictive A" in text
    assert "sexto-qc v2" in text
    assert message["X-Sexto-Template"].startswith("sexto-qc/v2/parents.fr@sha256:")
    # Minimised: no student's name (not even their own child's), no content described.
    assert not any(name in text or name in str(message) for name in NAMES)
    # On the record, with the template version and no address.
    [outcome] = eventually(lambda: notify.notifications(case_id), "the outcome is recorded")
    assert outcome["channel"] == "email"
    assert outcome["recipient_kind"] == "parent"
    assert outcome["recipient_ref"] == "p-1"
    assert outcome["outcome"] == "sent"
    assert outcome["template_version"] == message["X-Sexto-Template"]
    assert outcome["detail"] == "smtp 250"
    assert message["Message-ID"] == f"<{outcome['delivery_id']}@sexto>"
    # The address is sealed on the log: the stored body holds no plaintext address.
    raw = notify.call(notify.runtime.store.read_raw, CaseRef(notify.world.territory, case_id))
    assert raw
    assert all(b"parent.one@example.org" not in m.body for m in raw)
    registered = [e.data for e in notify.events(case_id) if isinstance(e.data, RecipientRegistered)]
    assert registered[0].email == "parent.one@example.org"  # opened with the key


def test_a_parent_can_be_written_to_in_english(notify: Notify) -> None:
    case_id, refs = notify.new_case()
    response = register(
        notify, case_id, recipient_ref="p-2", kind="parent", student_ref=refs[1],
        language="en", email="parent.two@example.org",
    )  # fmt: skip
    assert response.status_code == 201  # type: ignore[attr-defined]
    [message] = eventually(lambda: mail_to(notify, "parent.two@example.org"), "the mail arrives")
    assert "Information for parents" in message["Subject"]
    assert message["X-Sexto-Template"].startswith("sexto-qc/v2/parents.en@sha256:")


def test_staff_receive_each_step(notify: Notify) -> None:
    case_id, refs = notify.new_case()
    for ref, kind, address in (
        ("iv-a", "intervener", "intervener.a@school.example"),
        ("dsl-a", "safeguarding_lead", "lead.a@school.example"),
    ):
        response = register(notify, case_id, recipient_ref=ref, kind=kind, email=address)
        assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    # Registering staff sends nothing by itself; each step then goes to both.
    notify.escalate(case_id, refs[:1])
    notify.append(case_id, EscalationAcknowledged(call_reference="911-81", dispatcher_ref="d"))
    for address in ("intervener.a@school.example", "lead.a@school.example"):

        def two(a: str = address) -> list[Message] | None:
            found = mail_to(notify, a)
            return found if len(found) == 2 else None

        got = eventually(two, f"two step mails to {address}")
        subjects = [m["Subject"] for m in got]
        assert subjects == [
            f"Dossier {case_id} : signalement au 911 demandé",
            f"Dossier {case_id} : prise en charge par la police",
        ]
        assert not any(name in text_of(m) for m in got for name in NAMES)
        assert "911-81" not in str(got)  # the step, not its details
    record = eventually(
        lambda: len(notify.notifications(case_id)) == 4 and notify.notifications(case_id),
        "four outcomes on the record",
    )
    assert {(n["recipient_ref"], n["about_type"]) for n in record} == {
        (r, t) for r in ("iv-a", "dsl-a")
        for t in ("escalation.requested", "escalation.acknowledged")
    }  # fmt: skip
    assert all(n["template_version"].startswith("sexto-qc/v2/staff_step.fr@") for n in record)


def test_an_erased_address_is_not_written_to_and_the_failure_is_recorded(notify: Notify) -> None:
    case_id, refs = notify.new_case()
    response = register(
        notify, case_id, recipient_ref="iv-z", kind="intervener", email="gone@school.example"
    )
    assert response.status_code == 201  # type: ignore[attr-defined]
    eventually(lambda: notify.call(_known, notify, case_id), "the recipient is known")
    notify.call(notify.runtime.vault.shred, f"recipient:{case_id}:iv-z")
    notify.escalate(case_id, refs[:1])
    [outcome] = eventually(lambda: notify.notifications(case_id), "the failure is recorded")
    assert outcome["outcome"] == "failed"
    assert outcome["final"] is True
    assert outcome["detail"] == "recipient erased"
    assert mail_to(notify, "gone@school.example") == []


async def _known(notify: Notify, case_id: str) -> bool:
    async with notify.runtime.pool.acquire() as conn:
        found = await conn.fetchval(
            "SELECT 1 FROM notification.recipients WHERE case_id = $1", case_id
        )
    return found is not None


def test_recipients_are_checked_against_the_case(notify: Notify) -> None:
    case_id, refs = notify.new_case()

    def refused(
        status: int, fragment: str, body: dict[str, object],
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        response = notify.client.post(
            f"/v1/cases/{case_id}/recipients", json=body,
            headers=headers or notify.world.headers(),
        )  # fmt: skip
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert fragment in response.text

    good: dict[str, object] = {"recipient_ref": "p-9", "kind": "parent", "student_ref": refs[0],
            "email": "p9@example.org"}  # fmt: skip
    refused(422, "student_ref", {**good, "student_ref": None})
    # An unknown student on a case is a 404 in every service.
    refused(404, "no student s-unknown", {**good, "student_ref": "s-unknown"})
    refused(422, "only a parent", {**good, "kind": "intervener"})
    refused(422, "email", {**good, "email": "not an address"})
    refused(404, "no case", good, notify.world.other_school_headers())
    refused(403, "school's staff", good, notify.police())
    first = register(notify, case_id, **good)
    assert first.status_code == 201  # type: ignore[attr-defined]
    # The same registration again (a retry) answers as the first; other details are refused.
    again = register(notify, case_id, **good)
    assert again.json() == first.json()  # type: ignore[attr-defined]
    refused(409, "already registered", {**good, "email": "other@example.org"})
    notify.append(case_id, CaseClosed(resolution="managed_in_school"), role="intervener")
    refused(409, "closed", {**good, "recipient_ref": "p-10"})
    other = notify.client.get(
        f"/v1/cases/{case_id}/notifications", headers=notify.world.other_school_headers()
    )
    assert other.status_code == 404
    admin = notify.world.headers(Role.ADMIN, subject="admin-n")  # manages, does not read cases
    assert notify.client.get(f"/v1/cases/{case_id}/notifications", headers=admin).status_code == 404
    reviewer = notify.world.headers(Role.LEGAL_REVIEWER, subject="lr-1")
    read = notify.client.get(f"/v1/cases/{case_id}/notifications", headers=reviewer)
    assert read.status_code == 200


async def test_smtp_never_falls_back_to_plain_text_when_tls_is_asked() -> None:
    handler = Captured()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())  # no STARTTLS offered
    smtp.start()
    try:
        settings = NotificationSettings(
            smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=True
        )
        message = render(template_name("sexto-qc", None, "staff_step", "en"), case_id="c-1",
                         school="S", protocol_version="", step="s", at="t")  # fmt: skip
        mail = build(settings, "staff@school.example", message, "d-tls")
        with pytest.raises(MailFailure, match="smtp"):
            await SmtpTransport(settings).send(mail)
        plain_login = NotificationSettings(
            smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
            smtp_username="sexto", smtp_password="not-sent-in-clear",
        )  # fmt: skip
        with pytest.raises(MailFailure, match="without STARTTLS") as refused:
            await SmtpTransport(plain_login).send(mail)
        assert refused.value.permanent
        assert handler.messages == []
    finally:
        smtp.stop()
