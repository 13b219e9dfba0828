"""Notification rules without any server: signatures, filters, backoff, templates, secrets."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sexto_protocols as protocols
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st
from sexto_events.catalogue.notification import Outcome
from sexto_events.catalogue.registry import CATALOGUE
from sexto_notification.app.mail import FolderTransport, build
from sexto_notification.app.secrets import InvalidSecret, SecretBox, check_secret, new_secret
from sexto_notification.app.urls import (
    RefusedAddress,
    check_destination,
    check_form,
    is_public,
    webhook_client,
)
from sexto_notification.bootstrap import UnsafeSettings, refuse_development_settings
from sexto_notification.config import NotificationSettings
from sexto_notification.domain.policy import (
    CANCEL,
    RETRY,
    STAFF_STEPS,
    AttemptResult,
    DeliveryStatus,
    EventFilter,
    InvalidFilter,
    email_language,
    is_final,
    normalise_types,
    retry_delay,
    status_after,
    status_unrecorded,
    subscriber_may_receive,
)
from sexto_notification.reactors.sender import signature_header
from sexto_notification.templates import render, template_name, template_version
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.partner import HELPER

BODY = json.dumps({"type": "org.sexto.escalation.requested.v1", "subject": "c1"}).encode()


def signed(secrets: list[str], at: float | None = None, msg_id: str = "d-1") -> dict[str, str]:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature_header(secrets, msg_id, moment, BODY.decode()),
    }


def test_the_receiver_helper_accepts_a_genuine_delivery() -> None:
    secret = new_secret()
    assert HELPER.verify([secret], signed([secret]), BODY)["subject"] == "c1"
    # The same signature checks with the Standard Webhooks reference library.
    Webhook(secret).verify(BODY, signed([secret]))


def test_the_receiver_helper_rejects_a_tampered_body() -> None:
    secret = new_secret()
    headers = signed([secret])
    tampered = BODY.replace(b"c1", b"c2")
    with pytest.raises(HELPER.InvalidDelivery, match="no signature matches"):
        HELPER.verify([secret], headers, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_the_receiver_helper_rejects_a_stale_or_future_timestamp() -> None:
    secret = new_secret()
    with pytest.raises(HELPER.InvalidDelivery, match="tolerance"):
        HELPER.verify([secret], signed([secret], at=time.time() - 301), BODY)
    with pytest.raises(HELPER.InvalidDelivery, match="tolerance"):
        HELPER.verify([secret], signed([secret], at=time.time() + 301), BODY)
    # A stale delivery re-stamped without re-signing fails the signature instead.
    headers = signed([secret], at=time.time() - 3600)
    headers["webhook-timestamp"] = str(int(time.time()))
    with pytest.raises(HELPER.InvalidDelivery, match="no signature matches"):
        HELPER.verify([secret], headers, BODY)


def test_the_receiver_helper_rejects_wrong_secrets_and_missing_headers() -> None:
    secret, other = new_secret(), new_secret()
    with pytest.raises(HELPER.InvalidDelivery, match="no signature matches"):
        HELPER.verify([other], signed([secret]), BODY)
    headers = signed([secret])
    del headers["webhook-signature"]
    with pytest.raises(HELPER.InvalidDelivery, match="missing"):
        HELPER.verify([secret], headers, BODY)
    with pytest.raises(HELPER.InvalidDelivery, match="whole number"):
        HELPER.verify([secret], {**signed([secret]), "webhook-timestamp": "soon"}, BODY)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = signed([new, old])
    assert len(headers["webhook-signature"].split()) == 2
    HELPER.verify([old], headers, BODY)
    HELPER.verify([new], headers, BODY)
    Webhook(old).verify(BODY, headers)


def test_the_receiver_takes_each_delivery_once() -> None:
    secret = new_secret()
    taken: list[str] = []
    receiver = HELPER.Receiver([secret], lambda msg_id, _event: taken.append(msg_id))
    assert receiver.handle(signed([secret]), BODY) == 204
    assert receiver.handle(signed([secret]), BODY) == 200  # a retry: acknowledged, not redone
    assert receiver.handle(signed([secret], msg_id="d-2"), BODY) == 204
    assert receiver.handle(signed([new_secret()], msg_id="d-3"), BODY) == 400
    assert taken == ["d-1", "d-2"]
    assert receiver.rejected == 1


@given(
    attempt=st.integers(1, 60),
    base=st.floats(0.01, 10),
    cap=st.floats(0.01, 7200),
    jitter=st.floats(0, 1),
    rand=st.floats(0, 0.999999),
)
def test_retry_delays_grow_and_stay_within_the_cap_and_jitter(
    attempt: int, base: float, cap: float, jitter: float, rand: float
) -> None:
    delay = retry_delay(attempt, base, cap, jitter, rand)
    plain = min(cap, base * 2 ** (attempt - 1))
    assert plain * (1 - jitter) - 1e-9 <= delay <= min(cap, plain * (1 + jitter)) + 1e-9
    assert retry_delay(attempt + 1, base, cap, 0, rand) >= retry_delay(attempt, base, cap, 0, rand)


def after_attempt(result: AttemptResult, attempt: int, cap: int) -> tuple[str, bool]:
    final = is_final(result, attempt, cap)
    outcome = Outcome.SENT if result.sent else Outcome.FAILED
    return status_after(outcome, final), final


def test_attempt_outcomes() -> None:
    assert after_attempt(AttemptResult(True, "http 200"), 1, 5) == ("sent", True)
    assert after_attempt(AttemptResult(False, "http 500"), 1, 5) == ("pending", False)
    assert after_attempt(AttemptResult(False, "http 500"), 5, 5) == ("failed", True)
    assert after_attempt(AttemptResult(False, "erased", permanent=True), 1, 5) == ("failed", True)


def test_an_unrecorded_attempt_is_tried_again_unless_the_case_cannot_be_read() -> None:
    assert status_unrecorded(case_unreadable=False) is DeliveryStatus.PENDING
    assert status_unrecorded(case_unreadable=True) is DeliveryStatus.FAILED


def test_owners_move_failed_deliveries_again_and_cancel_unfinished_ones() -> None:
    assert (RETRY.to, RETRY.allowed_from) == (DeliveryStatus.PENDING, (DeliveryStatus.FAILED,))
    assert CANCEL.to is DeliveryStatus.CANCELLED
    assert DeliveryStatus.SENT not in CANCEL.allowed_from
    assert DeliveryStatus.CANCELLED not in CANCEL.allowed_from + RETRY.allowed_from


def test_filters_match_types_territory_and_school() -> None:
    police = EventFilter(frozenset({"escalation.*"}), territory="spvm")
    assert police.matches("escalation.requested", "spvm", "school-1")
    assert not police.matches("escalation.requested", "sq", "school-1")
    assert not police.matches("intake.case_reported", "spvm", "school-1")
    school = EventFilter(frozenset({"intake.case_closed"}), school_id="school-1")
    assert school.matches("intake.case_closed", "spvm", "school-1")
    assert not school.matches("intake.case_closed", "spvm", "school-2")
    # Never the read log or notification's own events, whatever the filter says.
    anything = EventFilter(frozenset({"audit.case_read", "notification.delivery_attempted"}))
    assert not anything.matches("audit.case_read", "spvm", None)
    assert not anything.matches("notification.delivery_attempted", "spvm", None)


def test_type_filters_are_checked_against_the_catalogue() -> None:
    known = [t.subject_suffix() for t in CATALOGUE.types()]
    assert normalise_types(["escalation.*", "org.sexto.intake.case_closed.v1"], known) == {
        "escalation.*",
        "intake.case_closed",
    }
    for bad, why in (
        (["notification.*"], "not sent by webhook"),
        (["audit.case_read"], "not sent by webhook"),
        (["escalation.teleported"], "no such event type"),
        (["nowhere.*"], "no such context"),
        ([], "at least one"),
    ):
        with pytest.raises(InvalidFilter, match=why):
            normalise_types(bad, known)
    # Every step staff are told of is an event type that exists.
    assert set(STAFF_STEPS) <= set(known)


def test_every_protocol_version_has_its_templates_in_both_languages() -> None:
    for version in protocols.all_versions():
        for kind in ("parents", "staff_step"):
            for language in ("fr", "en"):
                name = template_name(version.name, version.id, kind, language)
                assert name.startswith(f"{version.name}/v{version.version}/{kind}.{language}")
                message = render(
                    name, case_id="c-1", school="École fictive", protocol_version="v",
                    step="une étape", at="2026-11-21T08:00:00Z",
                )  # fmt: skip
                assert message.subject
                assert "c-1" in message.text + message.subject
                assert message.template_version == template_version(name)
                assert "@sha256:" in message.template_version


def test_secrets_are_checked_and_sealed_per_subscription() -> None:
    secret = new_secret()
    assert check_secret(secret) == secret
    for bad in ("plain", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(InvalidSecret):
            check_secret(bad)
    box = SecretBox(os.urandom(32))
    sealed = box.seal("sub_1", secret)
    assert secret.encode() not in sealed
    assert box.open("sub_1", sealed) == secret
    with pytest.raises(InvalidTag):
        box.open("sub_2", sealed)  # bound to its subscription


async def test_the_embedded_default_writes_mail_to_a_folder(tmp_path: Path) -> None:
    settings = NotificationSettings(mail_dir=tmp_path / "mail")
    name = template_name("sexto-qc", None, "staff_step", "en")
    message = render(name, case_id="c-9", school="Fictional School", protocol_version="",
                     step="case closed", at="2026-11-21T08:00:00Z")  # fmt: skip
    transport = FolderTransport(settings.mail_dir)
    detail = await transport.send(build(settings, "lead@school.example", message, "d-9"))
    assert detail == "written to mail folder"
    written = (tmp_path / "mail" / "d-9.eml").read_text()
    assert "Case c-9: case closed" in written
    assert "lead@school.example" in written


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://dispatch.example/x", "https://"),
        ("https://user:pw@dispatch.example/x", "credentials"),
        ("http://203.0.113.7/x", "only https"),
        ("https://127.0.0.1/x", "non-public"),
        ("https://127.1/x", "non-public"),
        ("https://2130706433/x", "non-public"),
        ("https://0x7f000001/x", "non-public"),
        ("https://localhost/x", "non-public"),
        ("https://10.1.2.3/x", "non-public"),
        ("https://100.64.0.1/x", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("https://[::1]/x", "non-public"),
        ("https://[::ffff:127.0.0.1]/x", "non-public"),
        ("https://[64:ff9b::a00:1]/x", "non-public"),
        ("https://[2002:a00:1::]/x", "non-public"),
        ("https://dispatch.example:99999/x", "not a valid address"),
        ("https://[::1/x", "not a valid address"),
        ("https://no-such-host.invalid/x", "does not resolve"),
    ],
)
async def test_webhook_addresses_must_be_public_https(url: str, why: str) -> None:
    async def check() -> None:
        check_form(url, allow_insecure=False)
        await check_destination(url, allow_insecure=False)

    with pytest.raises(RefusedAddress, match=why):
        await check()


async def test_a_public_https_address_is_accepted_and_development_allows_loopback() -> None:
    url = "https://8.8.8.8/hooks/sexto"  # a literal public address: no lookup needed
    assert check_form(url, allow_insecure=False) == url
    await check_destination(url, allow_insecure=False)
    await check_destination("http://127.0.0.1:9/x", allow_insecure=True)


async def test_the_webhook_client_checks_the_address_it_connects_to() -> None:
    """Even past the checks made before (DNS rebinding), a non-public address is refused
    by the client's own resolver at connection time."""
    client = webhook_client(allow_insecure=False)
    try:
        with pytest.raises(httpx.ConnectError, match="non-public"):
            await client.post("http://localhost:9/x", content=b"{}")
    finally:
        await client.aclose()


def test_public_addresses_are_told_from_the_rest() -> None:
    assert is_public("8.8.8.8")
    assert is_public("2001:4860:4860::8888")
    assert is_public("::ffff:8.8.8.8")
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
    ):
        assert not is_public(address), address


def test_development_settings_are_refused_in_production() -> None:
    laptop = NotificationSettings(allow_insecure_urls=True)
    with pytest.raises(UnsafeSettings, match="ALLOW_INSECURE_URLS"):
        refuse_development_settings(laptop, "production")
    with pytest.raises(UnsafeSettings, match="SMTP_HOST"):
        refuse_development_settings(NotificationSettings(), "production")
    refuse_development_settings(NotificationSettings(smtp_host="smtp.example.org"), "production")
    refuse_development_settings(laptop, "development")


@pytest.mark.parametrize(
    ("owner", "escalated", "receives"),
    [
        ("police_dispatch", False, False),
        ("police_dispatch", True, True),
        ("prosecutor", False, False),
        ("school_admin", False, True),
        ("admin", False, False),
        ("admin", True, False),
    ],
)
def test_police_and_prosecutors_subscriptions_hear_of_escalated_cases_only_and_admins_of_none(
    owner: str, escalated: bool, receives: bool
) -> None:
    assert subscriber_may_receive(owner, escalated) is receives


def test_an_email_is_in_the_recipients_language_else_the_schools_else_the_protocols() -> None:
    assert email_language("en", "fr", "sexto-qc") == "en"
    assert email_language(None, "en", "sexto-qc") == "en"
    assert email_language(None, None, "sexto-qc") == "fr"
    assert email_language(None, None, "uk-dsl") == "en"
