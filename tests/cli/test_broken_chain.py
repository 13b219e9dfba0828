"""A broken chain is when a case is most read: history and export still report it in full.

Tampering happens on a stream of the test's own (`side_store`): the real log refuses it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from nats.aio.client import Client
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore

from tests.cli.conftest import Cli, NewCase, write_case
from tests.support.events import INVENTED_NAME, reported
from tests.support.raw import copy_case, publish_raw
from tests.support.transparency import TreeRun


def on(side: EventStore) -> dict[str, str]:
    """The settings that point the command line at the side stream."""
    return {"SEXTO_STREAM_NAME": side.spec.name, "SEXTO_SUBJECT_ROOT": side.spec.subject_root}


async def broken_copy(
    nc: Client, store: EventStore, side: EventStore, case: CaseRef
) -> tuple[list[str], str]:
    """The case copied with its third event removed: (ids kept, id of the event now at 2)."""
    await write_case(store, case)
    bodies = await store.read_raw(case)
    kept = bodies[:2] + bodies[3:]
    await copy_case(nc, kept, side, case)
    ids = [json.loads(m.body)["id"] for m in kept]
    return ids, ids[2]


async def test_history_shows_the_whole_timeline_and_where_it_breaks(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    ids, first_bad = await broken_copy(nc, store, side_store, case)

    shown = await cli("history", case.case_id, "--json", **on(side_store))
    table = await cli("history", case.case_id, **on(side_store))
    analyst = await cli("history", case.case_id, "--json", role="analyst", **on(side_store))

    assert shown.exit_code == 1, shown.output
    report = json.loads(shown.stdout)
    assert [e["id"] for e in report["events"]][: len(ids)] == ids
    assert (report["chain_verified"], report["broken_at"]) == (False, 2)
    assert report["broken_event_id"] == first_bad
    assert report["events"][0]["data"]["students"][0]["name"] == INVENTED_NAME
    # the read itself went on the record, after the last stored event
    assert report["events"][-1]["type"] == "org.sexto.audit.case_read.v2"
    assert table.exit_code == 1, table.output
    assert "2 BROKEN" in table.stdout
    assert "chain BROKEN" in table.stdout
    assert "kit_collected" in table.stdout  # events after the break are shown
    assert analyst.exit_code == 1, analyst.output
    assert INVENTED_NAME not in analyst.stdout
    assert len(json.loads(analyst.stdout)["events"]) >= len(ids)


async def test_an_event_that_cannot_be_decoded_is_shown_as_such(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies[:2], side_store, case)
    altered = bodies[2].body.replace(b"intake.note_added.v1", b"intake.note_added.v9")
    await publish_raw(nc, side_store, case, "intake.note_added", altered)
    await copy_case(nc, bodies[3:], side_store, case)

    shown = await cli("history", case.case_id, "--json", **on(side_store))

    assert shown.exit_code == 1, shown.output
    report = json.loads(shown.stdout)
    assert report["broken_at"] == 2
    assert "cannot be decoded" in report["events"][2]["data"]["unreadable"]
    # the events around it are opened as usual
    assert report["events"][0]["data"]["students"][0]["name"] == INVENTED_NAME
    assert report["events"][3]["data"]["seal_numbers"] == ["SB-0042"]


async def test_export_writes_the_bundle_of_a_broken_case_and_says_where_it_breaks(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    tmp_path: Path, tree: TreeRun,
) -> None:  # fmt: skip
    case = new_case()
    ids, first_bad = await broken_copy(nc, store, side_store, case)
    folder = tmp_path / "bundle"

    result = await cli("export", case.case_id, "--out", str(folder), **on(side_store))

    assert result.exit_code == 1, result.output
    assert "chain does not verify" in result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["chain_at_export"] == {
        "ok": False, "position": 2, "event_id": first_bad,
        "reason": manifest["chain_at_export"]["reason"],
    }  # fmt: skip
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert [e["id"] for e in events][: len(ids)] == ids
    assert INVENTED_NAME in (folder / "personal-data.jsonl").read_text()
    checked = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-I", str(folder / "verify.py")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 1
    assert f"event {first_bad} at position 2" in checked.stdout


async def test_export_of_an_event_naming_an_unknown_protocol_fails_loudly(
    cli: Cli, side_store: EventStore, new_case: NewCase, tmp_path: Path, tree: TreeRun
) -> None:
    case = new_case()
    first = reported()
    unknown = "sha256:" + "0" * 64
    event = NewEvent(first.data, first.actor, first.actor_role, protocol_version=unknown)
    await side_store.append(case, [event], CaseVersion.new())

    result = await cli("export", case.case_id, "--out", str(tmp_path / "b"), **on(side_store))

    assert result.exit_code == 1, result.output
    assert f"protocol versions unknown to this software: {unknown}" in result.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["missing_protocols"] == [unknown]
