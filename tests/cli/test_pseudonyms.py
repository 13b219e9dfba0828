"""What analysts see of the log, through the one disclosure path (the policy table applied by
the catalogue's declared classes): no name, no text, no contact, no outside reference; ages
and grades in bands; keyed pseudonyms for every case, student, staff member and seal, the
same in the REST API and on the command line under one analysis key, others under another."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationAcknowledged,
    EscalationRequested,
    ProsecutorConsulted,
    ProsecutorDecided,
)
from sexto_events.catalogue.intake import (
    CaseReported,
    DiscoveryChannel,
    NoteAdded,
    Protocol,
    StudentInvolved,
    StudentRole,
)
from sexto_events.catalogue.notification import RecipientKind, RecipientRegistered
from sexto_events.chain import canonical_body
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.principal import Role
from sexto_events.store import EventStore

from tests.cli.conftest import T0, Cli, NewCase, at, output_json
from tests.intake.conftest import World
from tests.intake.test_history import new_case as report_through_intake
from tests.support.events import INVENTED_NAME
from tests.support.raw import copy_case, envelope_for, publish_raw

WITHHELD = {"withheld": True}
OTHER_NAME = "Ottoline Brackenbury"
# Everything of the case below that an analyst must never read, whatever the event.
SECRETS = (INVENTED_NAME, "Zephyrine", OTHER_NAME, "stu-1", "stu-2", "intervener-7", "disp-5",
           "dpcp-3", "rcp-1", "SB-0042", "911-2026-4242", "DPCP-2026-777", "example.org",
           "first incident", "sec 3", "gifted")  # fmt: skip


async def write_everything(nc: Client, store: EventStore, side: EventStore, case: CaseRef) -> None:
    """A case touching every class of data, on `side`, ending with a device secured in the
    first version of its type (as an older release wrote it), correctly chained."""
    report = CaseReported(
        protocol=Protocol.SEXTO_QC, school_id="school-042", discovered_at=T0,
        discovery_channel=DiscoveryChannel.STUDENT_DISCLOSURE,
        summary=f"{INVENTED_NAME} says a photo was shared",
        students=[
            StudentInvolved(student_ref="stu-1", roles=[StudentRole.DEPICTED], age=14,
                            grade="sec 3", name=INVENTED_NAME),
            StudentInvolved(student_ref="stu-2", roles=[StudentRole.SENDER], age=17,
                            grade="the gifted class", name=OTHER_NAME),
        ],
    )  # fmt: skip
    escalated = EscalationRequested(
        school_id="school-042", protocol="sexto-qc", urgency="high",
        students=[EscalatedStudent(student_ref="stu-1", roles=["depicted"],
                                   indication="impulsive")],
        seal_numbers=["SB-0042"], intervener_ref="intervener-7",
        assessment_event_id=str(uuid.uuid4()),
    )  # fmt: skip
    events = [
        NewEvent(report, "intervener-7", "intervener", time=at(0)),
        NewEvent(NoteAdded(text="Zephyrine's mother called back"), "intervener-7", "intervener",
                 time=at(1)),
        NewEvent(escalated, "sexto-escalation", "service", time=at(2)),
        NewEvent(EscalationAcknowledged(call_reference="911-2026-4242", dispatcher_ref="disp-5"),
                 "disp-5", "police_dispatch", time=at(3)),
        NewEvent(ProsecutorConsulted(dpcp_file_reference="DPCP-2026-777"), "disp-5",
                 "police_dispatch", time=at(4)),
        NewEvent(RecipientRegistered(recipient_ref="rcp-1", kind=RecipientKind.PARENT,
                                     student_ref="stu-1", email="parent@example.org"),
                 "sexto-notification", "service", time=at(5)),
        NewEvent(ProsecutorDecided(student_ref="stu-1", decision="impulsive",
                                   reasons="first incident, consensual exchange",
                                   follow_up="educational_meeting_required"),
                 "dpcp-3", "prosecutor", time=at(30)),
    ]  # fmt: skip
    version = CaseVersion.new()
    for event in events:
        version = (await store.append(case, [event], version)).version
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies, side, case)
    old = envelope_for(case, "org.sexto.intake.device_secured.v1",
                       {"owner_ref": "stu-1", "switched_off": True, "seal_number": "SB-0042"},
                       json.loads(bodies[-1].body)["hash"])  # fmt: skip
    await publish_raw(nc, side, case, "intake.device_secured", canonical_body(old.to_dict()))


def on(side: EventStore) -> dict[str, str]:
    return {"SEXTO_STREAM_NAME": side.spec.name, "SEXTO_SUBJECT_ROOT": side.spec.subject_root}


def by_type(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["type"]).split(".")[3]: r for r in rows}


async def test_an_analysts_replay_names_no_one_and_bands_ages_and_grades(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    tmp_path: Path,
) -> None:  # fmt: skip
    case = new_case()
    await write_everything(nc, store, side_store, case)
    out = tmp_path / "a.jsonl"

    result = await cli("replay", "--out", str(out), role="analyst", **on(side_store))

    assert result.exit_code == 0, result.output
    text = out.read_text()
    for secret in (*SECRETS, case.case_id):
        assert secret not in text, secret
    rows = [json.loads(line) for line in text.splitlines()]
    assert not [r for r in rows if "unreadable" in r]
    shown = by_type(rows)
    report = shown["case_reported"]["data"]
    first, second = report["students"]
    assert report["summary"] == WITHHELD
    assert (first["name"], second["name"]) == (WITHHELD, WITHHELD)
    assert (first["age"], second["age"]) == ("14_15", "16_17")
    assert first["grade"] == "grades_9_10"  # Secondaire 3 is grade 9
    assert second["grade"] == WITHHELD  # words that are not a grade are never shown
    assert first["roles"] == ["depicted"]
    assert shown["note_added"]["data"]["text"] == WITHHELD
    assert shown["acknowledged"]["data"]["call_reference"] == WITHHELD
    assert shown["prosecutor_consulted"]["data"]["dpcp_file_reference"] == WITHHELD
    assert shown["recipient_registered"]["data"]["email"] == WITHHELD
    assert shown["prosecutor_decided"]["data"]["reasons"] == WITHHELD
    assert shown["prosecutor_decided"]["data"]["decision"] == "impulsive"
    # the older event is disclosed by its current declaration, as every other
    device = shown["device_secured"]
    assert device["type"] == "org.sexto.intake.device_secured.v3"
    assert device["stored_type"] == "org.sexto.intake.device_secured.v1"
    assert device["data"]["measure"] == "switched_off"
    # keyed pseudonyms join: the same case, student, seal and staff member everywhere
    assert len({r["subject"] for r in rows}) == 1
    escalation = shown["requested"]["data"]
    assert device["data"]["owner_ref"] == first["student_ref"]
    assert device["data"]["owner_ref"] == escalation["students"][0]["student_ref"]
    assert device["data"]["seal_number"] == escalation["seal_numbers"][0]
    assert shown["case_reported"]["actor"] == shown["note_added"]["actor"]
    assert escalation["intervener_ref"] == shown["note_added"]["actor"]  # both a person


async def test_an_analysts_history_shows_the_same_pseudonyms_as_the_replay(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    tmp_path: Path,
) -> None:  # fmt: skip
    case = new_case()
    await write_everything(nc, store, side_store, case)
    replayed = await cli("replay", "--out", str(tmp_path / "a.jsonl"), role="analyst",
                         **on(side_store))  # fmt: skip

    history = await cli("history", case.case_id, "--json", role="analyst", **on(side_store))
    table = await cli("history", case.case_id, role="analyst", **on(side_store))

    assert replayed.exit_code == 0, replayed.output
    shown = output_json(history)
    for secret in (*SECRETS, case.case_id):
        assert secret not in history.stdout, secret
        assert secret not in table.stdout, secret
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert shown["case_id"] == rows[0]["subject"]
    assert shown["events"][0]["data"] == rows[0]["data"]
    assert shown["events"][0]["actor"] == rows[0]["actor"]
    assert not shown["personal_data_shown"]
    assert "personal data withheld" in table.stdout


async def test_rest_and_command_line_give_the_same_pseudonyms_under_one_analysis_key(
    cli: Cli, world: World, tmp_path: Path
) -> None:
    case_id = report_through_intake(world)
    analyst = world.headers(Role.ANALYST, subject="an-1")

    rest = world.client.get(f"/v1/cases/{case_id}/history", headers=analyst)
    same_key = await cli("replay", "--territory", world.territory, "--type",
                         "intake.case_reported", "--out", str(tmp_path / "same.jsonl"),
                         role="analyst")  # fmt: skip
    other_key = base64.b64encode(b"another analysis key, 32 bytes!!").decode()
    other = await cli("replay", "--territory", world.territory, "--type", "intake.case_reported",
                      "--out", str(tmp_path / "other.jsonl"), role="analyst",
                      SEXTO_ANALYSIS_KEY=other_key)  # fmt: skip

    assert rest.status_code == 200, rest.text
    assert same_key.exit_code == 0, same_key.output
    assert other.exit_code == 0, other.output
    shown = rest.json()
    assert case_id not in rest.text
    students = [s["student_ref"] for s in shown["events"][0]["data"]["students"]]
    same = [json.loads(line) for line in (tmp_path / "same.jsonl").read_text().splitlines()]
    [line] = [r for r in same if r["subject"] == shown["case_id"]]
    assert [s["student_ref"] for s in line["data"]["students"]] == students
    assert line["data"]["students"][0]["age"] == shown["events"][0]["data"]["students"][0]["age"]
    # under another key, neither the case nor its students can be matched
    text = (tmp_path / "other.jsonl").read_text()
    assert len(text.splitlines()) == len(same)
    assert shown["case_id"] not in text
    for student in students:
        assert student not in text
    assert case_id not in text + (tmp_path / "same.jsonl").read_text()
