"""Who sees what, generated from the table, on the real stack: one case whose every field of
text holds a unique canary value, read through every read surface as every role. Each canary
appears exactly where the disclosure table shows its class to the role, and nowhere else
(bodies, headers, webhook payloads, e-mails). A GET route not listed here fails a test."""

from __future__ import annotations

import base64
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sexto_cli.main import app
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.disclosure import POLICY, DataClass, Treatment
from sexto_events.principal import Role

from tests.cli.conftest import Cli
from tests.conftest import MASTER_KEY
from tests.evaluation.test_grids import IMPULSIVE, MALICIOUS
from tests.notification.conftest import LiveReceiver, Notify, eventually
from tests.notification.test_four_services import services  # noqa: F401 (fixture)
from tests.notification.test_webhooks import secret
from tests.services.test_disclosure_declared import NO_CASE_DATA, apps, routes
from tests.support.world import sexto_report

C = DataClass
TAG = uuid.uuid4().hex[:8]  # this run's canaries: unique in the shared log


def canary(kind: str) -> str:
    return f"{kind}canary{TAG}"


# Every canary, and the classes of the fields holding it (one class but where the same value
# is two things: the reporting intervener is who acted and the one police call back).
NAME_1, NAME_2 = f"Idname Uno{TAG}", f"Idname Duo{TAG}"
REF_1, REF_2 = canary("ref1"), canary("ref2")
SEAL_1, SEAL_2 = canary("SEAL1"), canary("SEAL2")
PARENT = f"contact{TAG}@example.org"
STAFF_MAIL = f"staffmail{TAG}@example.org"
SUMMARY, NOTE, STEP_NOTE = canary("narrsummary"), canary("narrnote"), canary("narrstep")
ACTION, JUSTIFY, REASONS = canary("narraction"), canary("narrjustify"), canary("narrreasons")
ROLE_REASON, GRID_WORDS = canary("narrrole"), canary("narrgrid")
GRADE = canary("gradegrid")
CALL, DPCP = canary("EXT911"), canary("EXTDPCP")
DISPATCHER, OFFICER, DPCP_STAFF = canary("staffdisp"), canary("staffofficer"), canary("staffdpcp")


@dataclass
class Canaries:
    """The canary values of the case, by the classes that hold them."""

    classes: dict[str, frozenset[DataClass]] = field(default_factory=dict)

    def add(self, value: str, *classes: DataClass) -> None:
        self.classes[value] = frozenset(classes)

    def found(self, text: str) -> set[str]:
        return {value for value in self.classes if value in text}

    def shown_to(self, role: Role, among: set[str]) -> set[str]:
        """The values the role must be shown: it is shown every class holding them."""
        return {
            value
            for value in among
            if all(POLICY[role][c] is Treatment.SHOWN for c in self.classes[value])
        }

    def may_show(self, role: Role, among: set[str]) -> set[str]:
        """The values the role may be shown somewhere: it is shown a class holding them (a
        value of two classes shows in the fields of the one and not of the other)."""
        return {
            value
            for value in among
            if any(POLICY[role][c] is Treatment.SHOWN for c in self.classes[value])
        }


@dataclass
class Reading:
    """What one role got from one surface: its status, and every byte it could read."""

    status_code: int
    text: str


@dataclass
class Case:
    case_id: str
    canaries: Canaries
    receivers: dict[Role, LiveReceiver]


ROLES = list(Role)


def headers_of(notify: Notify, role: Role) -> dict[str, str]:
    world = notify.world
    scope: dict[str, Any] = {"subject": f"{role.value[:4]}-{TAG}"}
    if role in (Role.INTERVENER,):
        scope = {"subject": world.intervener, "school": world.school}
    elif role in (Role.SAFEGUARDING_LEAD, Role.SCHOOL_ADMIN):
        scope["school"] = world.school
    elif role is Role.POLICE_DISPATCH:
        scope = {"subject": DISPATCHER, "territory": world.territory}
    elif role is Role.POLICE_OFFICER:
        scope = {"subject": OFFICER, "territory": world.territory}
    elif role is Role.PROSECUTOR:
        scope = {"subject": DPCP_STAFF, "territory": world.territory}
    return world.headers(role, **scope)


def _text(response: Any) -> str:
    """Everything a reader gets: the headers and the body (a zip's files, unpacked)."""
    head = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    if response.headers.get("content-type", "").startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
            body = "\n".join(bundle.read(n).decode("utf-8", "replace") for n in bundle.namelist())
    else:
        body = response.text
    return f"{head}\n{body}"


def post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = client.post(
        path, json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


@pytest.fixture(scope="module")
def case(
    notify: Notify,
    services: tuple[TestClient, TestClient],  # noqa: F811
) -> Iterator[Case]:
    evaluation, escalation = services
    world = notify.world
    intake = world.client
    school = headers_of(notify, Role.INTERVENER)
    canaries = Canaries()
    receivers = {role: LiveReceiver([secret()]) for role in WEBHOOK_OWNERS}
    for role, receiver in receivers.items():
        receiver.up()
        notify.subscribe(
            receiver, headers=headers_of(notify, role), types=["intake.*", "escalation.*"]
        )
    try:
        body = sexto_report(world.school, summary=SUMMARY)
        body["students"] = [
            {"student_ref": REF_1, "name": NAME_1, "role": "sender", "age": 14, "grade": GRADE},
            {"student_ref": REF_2, "name": NAME_2, "role": "redistributor", "age": 15},
        ]
        made = world.report(body, headers=school)
        assert made.status_code == 201, made.text
        case_id = made.json()["case_id"]
        path = f"/v1/cases/{case_id}"
        for seal, ref in ((SEAL_1, REF_1), (SEAL_2, REF_2)):
            device = {"owner_ref": ref, "measure": "switched_off", "seal_number": seal}
            post(intake, f"{path}/devices", device, school)
        post(intake, f"{path}/notes", {"text": NOTE}, school)
        post(intake, f"{path}/checklist/situation_discovered", {"note": STEP_NOTE}, school)
        post(intake, f"{path}/actions-not-taken", {"action": ACTION, "justification": JUSTIFY},
             school)  # fmt: skip
        post(intake, f"{path}/students/{REF_2}/role", {"role": "sender", "reason": ROLE_REASON},
             school)  # fmt: skip
        parent = {"recipient_ref": canary("recipient"), "kind": "parent", "student_ref": REF_1,
                  "email": PARENT}  # fmt: skip
        eventually(
            lambda: notify.client.post(
                f"{path}/recipients", json=parent,
                headers={**school, "Idempotency-Key": uuid.uuid4().hex},
            ).status_code in (200, 201),
            "the notification service registered the parent",
        )  # fmt: skip
        staff = {"recipient_ref": canary("staffrecipient"), "kind": "intervener",
                 "email": STAFF_MAIL}  # fmt: skip
        post(notify.client, f"{path}/recipients", staff, school)
        eventually(
            lambda: evaluation.get(f"{path}/assessment", headers=school).status_code == 200,
            "the evaluation saw the case",
        )
        for ref, answers in ((REF_1, MALICIOUS), (REF_2, IMPULSIVE)):
            grid = {"answers": answers, "notes": {"content_nature": GRID_WORDS}}
            response = evaluation.put(
                f"{path}/grids/{ref}", json=grid,
                headers={**school, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert response.status_code == 201, response.text
        dispatch = headers_of(notify, Role.POLICE_DISPATCH)
        eventually(
            lambda: any(e["case_id"] == case_id
                        for e in escalation.get("/v1/escalations", headers=dispatch).json()),
            "the case was escalated",
        )  # fmt: skip
        steps = f"/v1/escalations/{case_id}"
        post(escalation, f"{steps}/acknowledge", {"call_reference": CALL}, dispatch)
        kit = {"seals": [{"seal_number": SEAL_1, "intact": True},
                         {"seal_number": SEAL_2, "intact": True}]}  # fmt: skip
        post(escalation, f"{steps}/kit-collected", kit, headers_of(notify, Role.POLICE_OFFICER))
        post(escalation, f"{steps}/prosecutor-consulted", {"dpcp_file_reference": DPCP}, dispatch)
        decision = {"decision": "malicious", "reasons": REASONS}
        post(escalation, f"{steps}/decisions/{REF_1}", decision,
             headers_of(notify, Role.PROSECUTOR))  # fmt: skip
        for value in (NAME_1, NAME_2):
            canaries.add(value, C.IDENTITY)
        canaries.add(PARENT, C.CONTACT)
        canaries.add(STAFF_MAIL, C.CONTACT)
        for value in (SUMMARY, NOTE, STEP_NOTE, ACTION, JUSTIFY, REASONS, ROLE_REASON,
                      GRID_WORDS):  # fmt: skip
            canaries.add(value, C.NARRATIVE)
        canaries.add(GRADE, C.GRID)
        for value in (REF_1, REF_2, SEAL_1, SEAL_2, case_id, world.school,
                      canary("recipient"), canary("staffrecipient")):  # fmt: skip
            canaries.add(value, C.REFERENCE)
        canaries.add(world.intervener, C.STAFF, C.CALLBACK)
        for value in (DISPATCHER, OFFICER, DPCP_STAFF):
            canaries.add(value, C.STAFF)
        for value in (CALL, DPCP):
            canaries.add(value, C.EXTERNAL_REF)
        # Everything recorded has reached the services that answer about it.
        eventually(
            lambda: len(
                escalation.get(f"/v1/cases/{case_id}/custody", headers=dispatch).json()["bags"]
            ) == 2,
            "the custody log has both bags",
        )  # fmt: skip
        decided = "org.sexto.escalation.prosecutor_decided.v1"
        eventually(
            lambda: all(decided in r.types_for(case_id) for r in receivers.values()),
            "every webhook heard the decision",
        )
        yield Case(case_id, canaries, receivers)
    finally:
        for receiver in receivers.values():
            receiver.down()


WEBHOOK_OWNERS = (Role.POLICE_DISPATCH, Role.SCHOOL_ADMIN)

# The read surfaces: (service, route path) -> how a role reads it.
Read = Callable[[Notify, tuple[TestClient, TestClient], Case, dict[str, str]], Any]


def _intake(path: str) -> Read:
    return lambda notify, _s, case, h: notify.world.client.get(
        path.format(case_id=case.case_id), headers=h
    )


def _evaluation(path: str) -> Read:
    return lambda _n, s, case, h: s[0].get(path.format(case_id=case.case_id), headers=h)


def _escalation(path: str) -> Read:
    return lambda _n, s, case, h: s[1].get(path.format(case_id=case.case_id), headers=h)


def _notification(path: str) -> Read:
    def read(notify: Notify, _s: Any, case: Case, h: dict[str, str]) -> Any:
        if "{sub_id}" in path:
            listed = notify.client.get("/v1/subscriptions", headers=h)
            if listed.status_code != 200 or not listed.json():
                return listed
            return notify.client.get(f"/v1/subscriptions/{listed.json()[0]['id']}", headers=h)
        return notify.client.get(path.format(case_id=case.case_id), headers=h)

    return read


SURFACES: dict[tuple[str, str], Read] = {
    ("intake", "/v1/cases"): _intake("/v1/cases?limit=200"),
    ("intake", "/v1/cases/{case_id}"): _intake("/v1/cases/{case_id}"),
    ("intake", "/v1/cases/{case_id}/history"): _intake("/v1/cases/{case_id}/history"),
    ("intake", "/v1/legal/cases/{case_id}/history"): _intake("/v1/legal/cases/{case_id}/history"),
    ("intake", "/v1/legal/cases/{case_id}/verification"): _intake(
        "/v1/legal/cases/{case_id}/verification"
    ),
    ("intake", "/v1/legal/cases/{case_id}/export"): _intake("/v1/legal/cases/{case_id}/export"),
    ("evaluation", "/v1/cases/{case_id}/assessment"): _evaluation("/v1/cases/{case_id}/assessment"),
    ("escalation", "/v1/escalations"): _escalation("/v1/escalations"),
    ("escalation", "/v1/cases/{case_id}/custody"): _escalation("/v1/cases/{case_id}/custody"),
    ("notification", "/v1/subscriptions"): _notification("/v1/subscriptions"),
    ("notification", "/v1/subscriptions/{sub_id}"): _notification("/v1/subscriptions/{sub_id}"),
    ("notification", "/v1/deliveries"): _notification("/v1/deliveries"),
    ("notification", "/v1/cases/{case_id}/notifications"): _notification(
        "/v1/cases/{case_id}/notifications"
    ),
}
# Surfaces that list the caller's own things, not a case's.
OWN = {
    ("notification", "/v1/subscriptions"),
    ("notification", "/v1/subscriptions/{sub_id}"),
    ("notification", "/v1/deliveries"),
}
# What the widest reader must find on a surface (so that a surface answering nothing to
# everyone fails): the canaries every reader shown all classes gets there.
MUST_CARRY = {
    ("intake", "/v1/cases/{case_id}/history"): {
        NAME_1,
        PARENT,
        SUMMARY,
        REASONS,
        CALL,
        SEAL_1,
        GRADE,
        GRID_WORDS,
        OFFICER,
    },
    ("intake", "/v1/legal/cases/{case_id}/history"): {NAME_1, PARENT, SUMMARY, DPCP},
    ("intake", "/v1/legal/cases/{case_id}/export"): {NAME_1, SUMMARY},
    ("intake", "/v1/cases/{case_id}"): {REF_1, GRADE},
    ("evaluation", "/v1/cases/{case_id}/assessment"): {REF_1},
    ("escalation", "/v1/cases/{case_id}/custody"): {SEAL_1, OFFICER},
}


def test_every_get_route_of_the_four_services_is_a_surface_here_or_holds_no_case_data() -> None:
    gets = {
        (service, route.path)
        for service, route in routes()
        if "GET" in (route.methods or set()) and route.path not in NO_CASE_DATA
    }
    gets |= {
        (service, route.path)
        for service, route in routes()
        if route.path == "/v1/legal/cases/{case_id}/export"
    }

    assert gets == set(SURFACES)
    assert apps()  # the four services


@pytest.mark.parametrize("surface", sorted(SURFACES), ids=lambda s: f"{s[0]}:{s[1]}")
def test_each_canary_appears_exactly_where_the_table_shows_its_class(
    notify: Notify,
    services: tuple[TestClient, TestClient],  # noqa: F811
    case: Case,
    surface: tuple[str, str],
) -> None:
    read = SURFACES[surface]
    readings = {}
    for role in ROLES:
        response = read(notify, services, case, headers_of(notify, role))
        readings[role] = Reading(response.status_code, _text(response))
    allowed = {role: r for role, r in readings.items() if r.status_code == 200}
    refused = {role: r for role, r in readings.items() if r.status_code != 200}
    carried = set().union(*(case.canaries.found(r.text) for r in allowed.values()))

    assert MUST_CARRY.get(surface, set()) <= carried, surface
    for role, reading in refused.items():
        assert reading.status_code in (403, 404), (role, reading.text[:300])
        # A refusal may name the path asked for (the case id the caller gave): nothing else.
        assert case.canaries.found(reading.text) <= {case.case_id}, role
    for role, reading in allowed.items():
        found = case.canaries.found(reading.text)
        # A caller's own things (its subscriptions, its deliveries) are compared with what
        # it may be shown at all; a case's views with what the widest reader found there.
        among = set(case.canaries.classes) if surface in OWN else carried
        must = set() if surface in OWN else case.canaries.shown_to(role, among)
        may = case.canaries.may_show(role, among)
        assert must <= found <= may, (
            f"{surface} as {role.value}: shown but withheld by the table "
            f"{sorted(found - may)}; withheld but shown by the table {sorted(must - found)}"
        )


# The command line's commands that read cases, and how each role runs them; the others.
CLI_NOT_CASE_READS = {
    "rebuild": "rebuilds read models: prints consumer names and sequences",
    "shred": "erasure by an admin: echoes the key id it was given",
    "legal-hold": "places or lifts a hold: echoes the case id it was given",
    "retention": "erasure after retention: key ids and dates, never a field's value",
    "checkpoint": "the transparency log's signed size and root: no case named",
    "proof": "Merkle tree hashes by leaf index and tree size: no case named",
}


def cli_runner(nats_url: str, dsn: str, key_file: Path) -> Cli:
    return Cli({
        "SEXTO_ENVIRONMENT": "test", "SEXTO_NATS_URL": nats_url, "SEXTO_DATABASE_URL": dsn,
        "SEXTO_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
        "SEXTO_AUTH_LOCAL_KEY_FILE": str(key_file), "COLUMNS": "200",
    })  # fmt: skip


def _cli_read(command: str) -> Callable[[Cli, Notify, Case, Role, Path], tuple[int, str]]:
    def read(cli: Cli, notify: Notify, case: Case, role: Role, tmp: Path) -> tuple[int, str]:
        out = tmp / f"{command}-{role.value}"
        args = {
            "history": ["history", case.case_id, "--json"],
            "verify": ["verify", "--case", case.case_id],
            "export": ["export", case.case_id, "--out", str(out)],
            "replay": ["replay", "--territory", notify.world.territory, "--out", str(out)],
            "stats": ["stats", "--json"],
            "report": ["report", "--out", str(out)],
            "export-analytics": ["export-analytics", "--out", str(out)],
        }[command]
        result = notify.call(partial(cli, *args, role=role.value))
        text = result.output
        if out.is_file():
            text += out.read_text(encoding="utf-8")
        elif out.is_dir():
            text += "".join(_as_text(f) for f in sorted(out.rglob("*")) if f.is_file())
        return result.exit_code, text

    return read


def _as_text(path: Path) -> str:
    """A file of a command's output folder as text (a Parquet file's rows: its bytes are
    compressed, where no canary could be seen)."""
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
        return json.dumps(rows, default=str, ensure_ascii=False)
    return path.read_text("utf-8", "replace")


CLI_SURFACES = {
    name: _cli_read(name)
    for name in ("history", "verify", "export", "replay", "stats", "report", "export-analytics")
}
CLI_MUST_CARRY = {"history": {NAME_1, SUMMARY, PARENT}, "export": {NAME_1, SUMMARY},
                  "replay": {NAME_1, SUMMARY, REASONS}}  # fmt: skip


def test_every_command_of_the_command_line_is_a_surface_here_or_reads_no_case() -> None:
    commands = {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    }
    groups = {g.name for g in app.registered_groups}

    assert commands | groups == set(CLI_SURFACES) | set(CLI_NOT_CASE_READS)


@pytest.mark.parametrize("command", sorted(CLI_SURFACES))
def test_each_canary_appears_on_the_command_line_exactly_where_the_table_shows_it(
    notify: Notify,
    case: Case,
    command: str,
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
    tmp_path: Path,
) -> None:
    cli = cli_runner(nats_server.url, postgres.dsn, issuer_key_file)
    readings = {role: CLI_SURFACES[command](cli, notify, case, role, tmp_path) for role in ROLES}
    allowed = {role: text for role, (code, text) in readings.items() if code == 0}
    carried = set().union(*(case.canaries.found(text) for text in allowed.values()))

    assert CLI_MUST_CARRY.get(command, set()) <= carried, command
    for role, (code, text) in readings.items():
        found = case.canaries.found(text)
        if code != 0:
            assert found <= {case.case_id}, (command, role)  # an echo of what was asked
            continue
        must = case.canaries.shown_to(role, carried)
        may = case.canaries.may_show(role, carried)
        assert must <= found <= may, (
            f"sexto {command} as {role.value}: shown but withheld by the table "
            f"{sorted(found - may)}; withheld but shown by the table {sorted(must - found)}"
        )


def test_e_mails_carry_no_name_no_words_and_a_parent_only_their_letter(
    notify: Notify, case: Case
) -> None:
    def sent() -> list[Any]:
        return [m for m in notify.mailbox.messages if case.case_id in m.as_string()]

    def to(mails: list[Any], address: str) -> list[Any]:
        return [m for m in mails if address in str(m["To"])]

    # Mails go out as the sender takes their deliveries: the case's fixture waited for
    # the webhooks, not for them.
    mails = eventually(
        lambda: m if to(m := sent(), PARENT) and len(to(m, STAFF_MAIL)) >= 3 else None,
        "the parent's letter and the intervener's mails of the escalation's steps",
    )
    parents = to(mails, PARENT)
    staff = to(mails, STAFF_MAIL)

    assert parents, "the parent was sent the protocol's letter"
    assert len(staff) >= 3, "the intervener was told of the escalation's steps"
    everything = set(case.canaries.classes)
    for mail in staff:  # told as the intervener's row shows it...
        assert case.canaries.found(mail.as_string()) <= case.canaries.may_show(
            Role.INTERVENER, everything
        )
    for mail in mails:  # ...and, by what e-mails declare they say, never a name or words
        found = case.canaries.found(mail.as_string())
        words = {v for v, c in case.canaries.classes.items() if c & {C.IDENTITY, C.NARRATIVE}}
        assert not found & (words | {CALL, DPCP, GRADE})
    for mail in parents:
        # The letter names the case (to quote), the school and the parent's own address.
        found = case.canaries.found(mail.as_string())
        assert found <= {case.case_id, notify.world.school, PARENT}, found


def test_analysts_get_keyed_pseudonyms_and_bands_where_others_get_values(
    notify: Notify, case: Case
) -> None:
    pseudonyms = notify.runtime.settings.pseudonymiser()
    analyst = headers_of(notify, Role.ANALYST)

    history = notify.world.client.get(f"/v1/cases/{case.case_id}/history", headers=analyst)

    assert history.status_code == 200
    body = history.json()
    assert body["case_id"] == pseudonyms.name("case", case.case_id)
    report = body["events"][0]["data"]
    first = report["students"][0]
    assert first["student_ref"] == pseudonyms.name("student", f"{case.case_id}:{REF_1}")
    assert first["age"] == "14_15"
    assert first["grade"] == {"withheld": True}  # not a grade: no band, never the text
    assert first["name"] == {"withheld": True}


def test_school_admins_see_where_the_bags_are_not_their_state(
    notify: Notify,
    services: tuple[TestClient, TestClient],  # noqa: F811
    case: Case,
) -> None:
    admin = headers_of(notify, Role.SCHOOL_ADMIN)

    custody = services[1].get(f"/v1/cases/{case.case_id}/custody", headers=admin)

    assert custody.status_code == 200
    bag = custody.json()["bags"][0]
    assert bag["seal_number"] in (SEAL_1, SEAL_2)
    assert bag["seal_state"] == {"withheld": True}


@pytest.mark.parametrize("owner", WEBHOOK_OWNERS)
def test_each_webhook_carries_what_its_owners_role_is_shown_and_no_more(
    notify: Notify, case: Case, owner: Role
) -> None:
    receiver = case.receivers[owner]
    delivered = [e for _, e in receiver.taken if e["subject"] == case.case_id]
    reviewer = headers_of(notify, Role.LEGAL_REVIEWER)
    record = notify.world.client.get(f"/v1/legal/cases/{case.case_id}/history", headers=reviewer)
    assert record.status_code == 200
    whole = {e["id"]: e for e in record.json()["events"]}
    # What those events hold, read in full; then what the subscriber got of them.
    carried = case.canaries.found(json.dumps([whole[e["id"]] for e in delivered]))
    carried |= {case.case_id}  # the subject of every event
    found = case.canaries.found(json.dumps(delivered, ensure_ascii=False))

    steps = {"requested", "acknowledged", "prosecutor_decided"}
    types = {e["type"].rsplit(".", 1)[0] for e in delivered}
    assert {f"org.sexto.escalation.{s}" for s in steps} <= types
    assert {REASONS, CALL, DPCP, SEAL_1, OFFICER} <= carried
    if owner is Role.SCHOOL_ADMIN:  # the school's: the report, with its names, too
        assert {NAME_1, SUMMARY} <= carried
    assert case.canaries.shown_to(owner, carried) <= found
    assert found <= case.canaries.may_show(owner, carried)
    requested = next(e for e in delivered if ".escalation.requested." in e["type"])
    assert requested["data"]["intervener_ref"] == notify.world.intervener
