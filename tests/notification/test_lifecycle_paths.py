"""One case's lifecycle through all four services on the real stack, one test per path:
SEXTO impulsive to a held meeting; SEXTO malicious to an investigation; an assessment
amended after the police were called; a victim-only student; a student seen in an earlier
case (and after shredding); UK without a factor; UK with a factor and two referrals. Each
asserts the history, the queue, the deliveries and what each role sees."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.principal import Role

from tests.cli.conftest import Cli
from tests.conftest import MASTER_KEY
from tests.evaluation.test_grids import IMPULSIVE, MALICIOUS, NO_FACTOR
from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_four_services import services  # noqa: F401 (fixture)
from tests.notification.test_webhooks import secret

WITHHELD = {"withheld": True}


@dataclass
class Journey:
    """One case on the four services, as its school, police, prosecutor and analyst act."""

    notify: Notify
    evaluation: TestClient
    escalation: TestClient
    uk: bool = False
    case_id: str = ""
    refs: list[str] = field(default_factory=list)
    receiver: LiveReceiver | None = None

    @property
    def school(self) -> dict[str, str]:
        world = self.notify.world
        return world.dsl_headers() if self.uk else world.headers()

    @property
    def territory(self) -> str:
        world = self.notify.world
        return world.uk_territory if self.uk else world.territory

    def as_role(self, role: Role) -> dict[str, str]:
        world = self.notify.world
        if role in (Role.POLICE_DISPATCH, Role.POLICE_OFFICER, Role.PROSECUTOR):
            return world.headers(role, subject=f"{role.value}-1", territory=self.territory)
        if role is Role.SCHOOL_ADMIN:
            school = world.uk_school if self.uk else world.school
            return world.headers(role, subject="sa-1", school=school)
        if role in (Role.ANALYST, Role.LEGAL_REVIEWER, Role.ADMIN):
            return world.headers(role, subject=f"{role.value}-1")
        return self.school

    def post(self, client: TestClient, path: str, body: dict[str, Any], headers: Any) -> Any:
        return client.post(
            path, json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
        )

    def step(self, path: str, body: dict[str, Any], role: Role = Role.POLICE_DISPATCH) -> Any:
        response = self.post(
            self.escalation, f"/v1/escalations/{self.case_id}/{path}", body, self.as_role(role)
        )
        assert response.status_code == 201, (path, response.text)
        return response.json()

    def report(self, students: list[dict[str, Any]], **changes: Any) -> None:
        world = self.notify.world
        body = {
            "protocol": "uk-dsl" if self.uk else "sexto-qc",
            "school_id": world.uk_school if self.uk else world.school,
            "discovered_at": "2026-11-02T09:30:00-05:00",
            "discovery_channel": "student_disclosure",
            "summary": "An invented summary of an invented incident, in words.",
            "students": students,
            **changes,
        }
        made = world.report(body, headers=self.school)
        assert made.status_code == 201, made.text
        self.case_id = made.json()["case_id"]
        self.refs = [s["student_ref"] for s in made.json()["students"]]
        version = made.json()["version"]
        eventually(
            lambda: self.evaluation.get(
                f"/v1/cases/{self.case_id}/assessment", headers=self.school
            ).status_code == 200,
            "the evaluation knows the case",
        )  # fmt: skip
        # The steps that follow go to notification, intake and escalation too: their read
        # models first (escalation's scope of the case lets school staff take its steps).
        self.notify.wait_known(self.case_id)
        world.wait_for_case(self.case_id, self.school, min_version=version)
        eventually(self.escalation_knows_the_case, "escalation knows the case's school")

    def escalation_knows_the_case(self) -> bool:
        runtime = self.escalation.app.state.runtime  # type: ignore[attr-defined]

        async def known() -> bool:
            async with runtime.pool.acquire() as conn:
                found = await conn.fetchval(
                    "SELECT 1 FROM escalation.case_scope WHERE case_id = $1", self.case_id
                )
            return found is not None

        return bool(self.escalation.portal.call(known))  # type: ignore[union-attr]

    def grade(self, answers: dict[str, Any], ref: str, reason: str | None = None) -> Any:
        body: dict[str, Any] = {"answers": answers}
        if reason:
            body["reason"] = reason
        response = self.evaluation.put(
            f"/v1/cases/{self.case_id}/grids/{ref}", json=body,
            headers={**self.school, "Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    def assessment(self) -> dict[str, Any]:
        found = self.evaluation.get(f"/v1/cases/{self.case_id}/assessment", headers=self.school)
        assert found.status_code == 200, found.text
        answer: dict[str, Any] = found.json()
        return answer

    def queued(self, **params: Any) -> dict[str, Any] | None:
        listed = self.escalation.get(
            "/v1/escalations", params=params, headers=self.as_role(Role.POLICE_DISPATCH)
        )
        assert listed.status_code == 200, listed.text
        return next((e for e in listed.json() if e["case_id"] == self.case_id), None)

    def wait_queued(self, word: str, **params: Any) -> dict[str, Any]:
        found: dict[str, Any] = eventually(
            lambda: (q := self.queued(**params)) and q["status"] == word and q,
            f"the queue shows {word}",
        )
        return found

    def history(self, role: Role = Role.INTERVENER) -> Any:
        return self.notify.world.client.get(
            f"/v1/cases/{self.case_id}/history", headers=self.as_role(role)
        )

    def escalated_history(self, role: Role) -> dict[str, Any]:
        """The history as the police or the DPCP read it: intake shows them a case once its
        read model has taken the escalation (a projection of the log, so not at once)."""
        response = eventually(
            lambda: r if (r := self.history(role)).status_code == 200 else None,
            f"intake shows the escalated case to {role.value}",
        )
        found: dict[str, Any] = response.json()
        return found

    def types(self) -> list[str]:
        events = self.history(Role.LEGAL_REVIEWER).json()["events"]
        return [".".join(e["type"].split(".")[2:4]) for e in events]

    def close(self) -> Any:
        return self.post(
            self.notify.world.client, f"/v1/cases/{self.case_id}/close",
            {"resolution": "resolved"}, self.school,
        )  # fmt: skip

    def heard(self, *suffixes: str) -> list[dict[str, Any]]:
        assert self.receiver is not None
        receiver = self.receiver

        def got() -> list[dict[str, Any]]:
            delivered = [e for _, e in receiver.taken if e["subject"] == self.case_id]
            kinds = {".".join(e["type"].split(".")[2:4]) for e in delivered}
            return delivered if set(suffixes) <= kinds else []

        found: list[dict[str, Any]] = eventually(got, f"the police webhook heard {suffixes}")
        return found


@pytest.fixture
def journey(
    notify: Notify,
    services: tuple[TestClient, TestClient],  # noqa: F811
) -> Iterator[Journey]:
    receiver = LiveReceiver([secret()])
    receiver.up()
    try:
        yield Journey(notify, services[0], services[1], receiver=receiver)
    finally:
        receiver.down()


def subscribe_police(journey: Journey) -> None:
    assert journey.receiver is not None
    journey.notify.subscribe(journey.receiver, headers=journey.as_role(Role.POLICE_DISPATCH))


SENDER = {"name": "Invented Sender-Test", "roles": ["sender"], "age": 15}
VICTIM = {"name": "Invented Depicted-Test", "roles": ["depicted"], "age": 14}


def police_steps(journey: Journey) -> None:
    journey.step("acknowledge", {"call_reference": "911-TEST-1"})
    seals = [{"seal_number": "SEAL-T1", "intact": True}]
    journey.step("kit-collected", {"seals": seals}, Role.POLICE_OFFICER)
    journey.step("prosecutor-consulted", {"dpcp_file_reference": "DPCP-TEST-1"})


def secure_device(journey: Journey, ref: str) -> None:
    response = journey.post(
        journey.notify.world.client, f"/v1/cases/{journey.case_id}/devices",
        {"owner_ref": ref, "measure": "switched_off", "seal_number": "SEAL-T1"}, journey.school,
    )  # fmt: skip
    assert response.status_code == 201, response.text


def test_sexto_impulsive_to_a_held_meeting(journey: Journey) -> None:
    subscribe_police(journey)
    journey.report([SENDER, VICTIM])
    sender, victim = journey.refs
    staff_mail = f"iv-{uuid.uuid4().hex[:8]}@school.example"
    registered = journey.post(
        journey.notify.client, f"/v1/cases/{journey.case_id}/recipients",
        {"recipient_ref": "iv-rec", "kind": "intervener", "email": staff_mail}, journey.school,
    )  # fmt: skip
    assert registered.status_code == 201, registered.text
    secure_device(journey, sender)
    journey.grade(IMPULSIVE, sender)
    journey.grade({**IMPULSIVE, "involvement": ["depicted"]}, victim)
    assessment = journey.assessment()["assessment"]
    tracks = {s["student_ref"]: (s["track"], s["indication"]) for s in assessment["students"]}
    assert tracks[victim] == ("victim", "not_applicable")
    assert tracks[sender][0] == "offender"
    assert journey.wait_queued("requested")

    police_steps(journey)
    refused = journey.close()
    assert refused.status_code == 409
    assert f"decide:{sender}" in refused.text
    journey.step(f"decisions/{sender}", {"decision": "impulsive", "reasons": "invented"},
                 Role.PROSECUTOR)  # fmt: skip
    victim_decision = journey.post(
        journey.escalation, f"/v1/escalations/{journey.case_id}/decisions/{victim}",
        {"decision": "impulsive", "reasons": "invented"}, journey.as_role(Role.PROSECUTOR),
    )  # fmt: skip
    assert victim_decision.status_code == 409  # a victim is never decided about
    assert journey.wait_queued("decided")
    # One status vocabulary: the case reads the queue's word.
    eventually(
        lambda: journey.notify.world.client.get(
            f"/v1/cases/{journey.case_id}", headers=journey.school
        ).json()["escalation_status"] == "decided",
        "the case shows the lifecycle's status word",
    )  # fmt: skip
    assert f"hold_meeting:{sender}" in journey.close().text
    journey.step(f"meetings/{sender}", {"at": "2026-11-20T10:00:00-05:00"})
    journey.step(f"meetings/{sender}/held", {"attended": ["student", "parents"]})
    journey.step(f"support/{victim}", {"kind": "victim_assistance", "reference": "CAVAC-T1"})
    closed = journey.close()
    assert closed.status_code == 201, closed.text

    types = journey.types()
    for expected in ("intake.case_reported", "evaluation.assessment_made", "escalation.requested",
                     "escalation.prosecutor_decided", "escalation.meeting_held",
                     "escalation.support_offered", "intake.case_closed"):  # fmt: skip
        assert expected in types, expected
    assert types.count("escalation.prosecutor_decided") == 1
    # A closed case leaves the active queue.
    assert eventually(lambda: journey.queued() is None, "the closed case left the queue")
    assert journey.wait_queued("closed", status="closed")
    delivered = journey.heard("escalation.requested", "escalation.meeting_held")
    assert all("Invented Sender-Test" not in str(e) for e in delivered)
    dispatch = journey.escalated_history(Role.POLICE_DISPATCH)
    assert dispatch["events"][0]["data"]["summary"] == WITHHELD
    after = journey.post(
        journey.escalation, f"/v1/escalations/{journey.case_id}/meetings/{sender}",
        {"at": "2026-11-21T10:00:00-05:00"}, journey.as_role(Role.POLICE_DISPATCH),
    )  # fmt: skip
    assert after.status_code == 409  # nothing more on a closed case but what the law keeps
    # The intervener was told of each step, by e-mail in the school's language (French).
    steps = ("prise en charge par la police", "trousse récupérée par la police",
             "décision du DPCP", "rencontre planifiée avec les policiers",
             "rencontre avec les policiers tenue",
             "soutien offert", "dossier fermé")  # fmt: skip

    def told() -> list[str]:
        return [str(m["Subject"]) for m in journey.notify.mailbox.messages
                if staff_mail in str(m["To"])]  # fmt: skip

    subjects = eventually(
        lambda: all(any(step in s for s in told()) for step in steps) and told(),
        "the intervener was told of every step",
    )
    assert all(journey.case_id in subject for subject in subjects)
    # A mail is out before its outcome reaches the read model from the log.
    eventually(
        lambda: sum(1 for n in journey.notify.notifications(journey.case_id)
                    if n["recipient_kind"] == "intervener") >= len(steps),
        "every mail to the intervener on the record",
    )  # fmt: skip


def test_sexto_malicious_to_an_investigation(journey: Journey) -> None:
    subscribe_police(journey)
    journey.report([SENDER])
    (sender,) = journey.refs
    journey.grade(MALICIOUS, sender)
    assert journey.assessment()["assessment"]["students"][0]["indication"] == "malicious"
    queued = journey.wait_queued("requested")
    assert queued["urgency"] == "urgent"
    police_steps(journey)
    decided = journey.step(f"decisions/{sender}", {"decision": "malicious", "reasons": "x"},
                           Role.PROSECUTOR)  # fmt: skip
    assert decided["version"] > 0
    events = journey.history(Role.LEGAL_REVIEWER).json()["events"]
    decision = next(e for e in events if e["type"].endswith("prosecutor_decided.v1"))
    assert decision["data"]["follow_up"] == "investigation_opened"
    assert journey.wait_queued("decided")
    closed = journey.close()
    assert closed.status_code == 201, closed.text  # an investigation is the police's now
    analyst = journey.history(Role.ANALYST).json()
    assert analyst["case_id"] != journey.case_id
    assert "Invented Sender-Test" not in str(analyst)
    delivered = journey.heard("escalation.requested", "escalation.prosecutor_decided")
    decided_hook = next(e for e in delivered if ".prosecutor_decided." in e["type"])
    assert decided_hook["data"]["reasons"] == WITHHELD  # words never reach dispatch
    assert decided_hook["data"]["follow_up"] == "investigation_opened"
    prosecutor = journey.escalated_history(Role.PROSECUTOR)
    assert "Invented Sender-Test" in str(prosecutor)  # the DPCP reads the names it judges


def test_an_assessment_amended_after_the_police_were_called(journey: Journey) -> None:
    subscribe_police(journey)
    journey.report([SENDER])
    (sender,) = journey.refs
    journey.grade(IMPULSIVE, sender)
    first = journey.wait_queued("requested")
    amended = {**IMPULSIVE, "prior_incidents": "yes", "intentions": ["revenge"]}
    journey.grade(amended, sender, reason="a prior incident was found later")

    raised = eventually(
        lambda: (q := journey.queued()) and q["urgency"] == "urgent" and q,
        "the queue follows the new urgency",
    )
    assert first["urgency"] != raised["urgency"]
    assert "escalation.urgency_changed" in journey.types()
    assert journey.types().count("escalation.requested") == 1  # the request stands
    delivered = journey.heard("escalation.urgency_changed")
    changed = next(e for e in delivered if ".urgency_changed." in e["type"])
    assert changed["data"]["urgency"] == "urgent"


def test_a_victim_only_student_gets_no_indication_and_no_decision(journey: Journey) -> None:
    subscribe_police(journey)
    journey.report([SENDER, VICTIM])
    sender, victim = journey.refs
    journey.grade(IMPULSIVE, sender)
    journey.grade({**IMPULSIVE, "involvement": ["depicted"]}, victim)
    indications = {s["student_ref"]: s["indication"]
                   for s in journey.assessment()["assessment"]["students"]}  # fmt: skip
    assert indications[victim] == "not_applicable"
    journey.wait_queued("requested")
    police_steps(journey)
    journey.step(f"decisions/{sender}", {"decision": "no_further_action", "reasons": "x"},
                 Role.PROSECUTOR)  # fmt: skip

    assert journey.wait_queued("decided")  # no decision is waited for about the victim
    journey.step(f"meetings/{victim}", {"at": "2026-11-20T10:00:00-05:00"})
    journey.step(f"meetings/{victim}/held", {"attended": ["depicted_student"]})
    journey.step(f"support/{victim}", {"kind": "image_removal", "reference": "C3P-T1"},
                 Role.INTERVENER)  # fmt: skip
    requested = next(
        e
        for e in journey.escalated_history(Role.POLICE_DISPATCH)["events"]
        if ".escalation.requested." in e["type"]
    )
    tracks = {s["student_ref"]: s["track"] for s in requested["data"]["students"]}
    assert tracks == {sender: "offender", victim: "victim"}
    assert journey.close().status_code == 201
    delivered = journey.heard("escalation.support_offered", "escalation.meeting_held")
    support = next(e for e in delivered if ".support_offered." in e["type"])
    assert support["data"]["reference"] == "C3P-T1"  # a reference, shown to dispatch
    assert eventually(lambda: journey.queued() is None, "the closed case left the queue")


def test_a_student_seen_in_an_earlier_case_and_not_after_shredding(
    journey: Journey, nats_server: NatsServer, postgres: EmbeddedPostgres, issuer_key_file: Path
) -> None:
    number = f"QC-{uuid.uuid4().hex[:8]}"
    journey.report([{**SENDER, "student_number": number}])
    first_case, (first_ref,) = journey.case_id, journey.refs
    journey.report([{**SENDER, "student_number": number}])

    flagged = journey.notify.world.client.get(
        f"/v1/cases/{journey.case_id}", headers=journey.school
    ).json()
    assert flagged["students"][0]["earlier_cases"] == 1
    assert "intake.prior_involvement_noted" in journey.types()
    warnings = eventually(
        lambda: [w for g in journey.assessment()["grids"] for w in g["warnings"]],
        "the grid shows the prior involvement",
    )
    assert any(w["code"] == "prior_involvement_found" for w in warnings)
    analyst = journey.notify.world.client.get(
        f"/v1/cases/{journey.case_id}", headers=journey.as_role(Role.ANALYST)
    ).json()
    assert analyst["students"][0]["earlier_cases"] == WITHHELD
    assert number not in str(journey.history(Role.LEGAL_REVIEWER).json())

    cli = Cli({
        "SEXTO_ENVIRONMENT": "test", "SEXTO_NATS_URL": nats_server.url,
        "SEXTO_DATABASE_URL": postgres.dsn,
        "SEXTO_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
        "SEXTO_AUTH_LOCAL_KEY_FILE": str(issuer_key_file), "COLUMNS": "200",
    })  # fmt: skip
    shred = partial(cli, "shred", f"student:{first_case}:{first_ref}",
                    "--reason", "erasure_request", role="admin")  # fmt: skip
    shredded = journey.notify.call(shred)
    assert shredded.exit_code == 0, shredded.output
    second_case = journey.case_id
    # Intake's erasure reactor takes the shredded student out of its index after the event.
    # (A report made before that would be indexed too, and every later one match it.)
    subject = f"student:{first_case}:{first_ref}"
    eventually(
        lambda: all(r["subject_key"] != subject for r in journey.notify.world.student_index()),
        "the shredded student left intake's index",
    )

    journey.report([{**SENDER, "student_number": number}])
    third = journey.notify.world.client.get(
        f"/v1/cases/{journey.case_id}", headers=journey.school
    ).json()
    assert journey.case_id != second_case
    assert third["students"][0]["earlier_cases"] == 1  # the second case only


def test_a_uk_case_without_a_factor_stays_with_the_school(journey: Journey) -> None:
    journey.uk = True
    journey.report([{**SENDER, "roles": ["sender"]}, VICTIM])
    for ref in journey.refs:
        journey.grade(NO_FACTOR, ref)

    assert journey.assessment()["assessment"]["recommendation"] == "manage_in_school"
    assert eventually(lambda: journey.queued() is None, "the closed case left the queue")
    assert "escalation.requested" not in journey.types()
    closed = journey.close()
    assert closed.status_code == 201, closed.text
    dispatch = journey.history(Role.POLICE_DISPATCH)
    assert dispatch.status_code == 404  # never escalated: not the police's case
    school_admin = journey.history(Role.SCHOOL_ADMIN).json()
    assert school_admin["events"][0]["data"]["summary"] == WITHHELD
    assert "intake.case_closed" in journey.types()


def test_a_uk_case_with_a_factor_and_two_referrals(journey: Journey) -> None:
    journey.uk = True
    journey.report([SENDER])
    (sender,) = journey.refs
    journey.grade({**NO_FACTOR, "previous_incident": "yes"}, sender)
    assert journey.assessment()["assessment"]["recommendation"] == (
        "escalate_to_police_or_social_care"
    )
    journey.wait_queued("requested")

    refused = journey.close()
    assert refused.status_code == 409
    assert "refer" in refused.text
    dsl = Role.SAFEGUARDING_LEAD
    journey.step("referral", {"agency": "police", "reference": "MET-T1"}, dsl)
    journey.step("referral", {"agency": "childrens_social_care", "reference": "CSC-T1"}, dsl)
    assert journey.close().status_code == 201
    referrals = [e for e in journey.types() if e == "escalation.referral_recorded"]
    assert len(referrals) == 2
    dispatch = journey.escalated_history(Role.POLICE_DISPATCH)["events"]
    # A UK-path case is never the DPCP's, even with a token naming the English territory
    # (asked once intake shows the escalated case to the police).
    assert journey.history(Role.PROSECUTOR).status_code == 404
    dpcp_queue = journey.escalation.get("/v1/escalations", headers=journey.as_role(Role.PROSECUTOR))
    assert journey.case_id not in {e["case_id"] for e in dpcp_queue.json()}
    shown = {e["data"]["reference"] for e in dispatch if ".referral_recorded." in e["type"]}
    assert shown == {"MET-T1", "CSC-T1"}
    assert dispatch[0]["data"]["summary"] == WITHHELD
    assert journey.wait_queued("closed", status="closed")


def test_a_victim_of_a_case_the_school_manages_is_offered_support(journey: Journey) -> None:
    journey.uk = True
    journey.report([SENDER, VICTIM])
    for ref in journey.refs:
        journey.grade(NO_FACTOR, ref)
    victim = journey.refs[1]

    journey.step(f"support/{victim}", {"kind": "image_removal", "reference": "IWF-T1"},
                 Role.SAFEGUARDING_LEAD)  # fmt: skip

    assert "escalation.support_offered" in journey.types()
    assert "escalation.requested" not in journey.types()
    assert journey.close().status_code == 201
    dispatch = journey.post(
        journey.escalation, f"/v1/escalations/{journey.case_id}/support/{victim}",
        {"kind": "counselling", "reference": "X-1"}, journey.as_role(Role.POLICE_DISPATCH),
    )  # fmt: skip
    assert dispatch.status_code == 404  # not the police's case: never escalated
