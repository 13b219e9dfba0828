"""A reviewer's replay leaves nothing on disk unless every read is on record, and an event
that cannot be decoded is reported in the file instead of stopping the replay."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from nats.aio.client import Client
from sexto_events.disclosure import Viewer
from sexto_events.model import CaseRef
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_legal.replay import ReplayFilter, replay_to_file
from sexto_legal.stats import compute_stats

from tests.cli.conftest import Cli, NewCase, write_case
from tests.support.events import INVENTED_NAME
from tests.support.raw import copy_case, publish_raw

REVIEWER = Viewer(Role.LEGAL_REVIEWER)


def listing(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def parts_and_modes(folder: Path, out: Path) -> list[tuple[str, int]]:
    """The files beside `out` (not `out`), with their contents and permission bits."""
    return [(p.read_text(), stat.S_IMODE(p.stat().st_mode)) for p in listing(folder) if p != out]


def side_env(store: EventStore) -> dict[str, str]:
    return {"SEXTO_STREAM_NAME": store.spec.name, "SEXTO_SUBJECT_ROOT": store.spec.subject_root}


async def test_a_failing_read_record_leaves_no_file_and_the_file_is_private_until_renamed(
    nc: Client, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    case = new_case()
    await write_case(store, case)
    out = tmp_path / "r.jsonl"
    seen: list[list[tuple[str, int]]] = []

    async def refuse(_: CaseRef) -> None:
        seen.append(parts_and_modes(tmp_path, out))
        assert not out.exists()
        raise OSError("the record could not be written")

    with pytest.raises(OSError, match="could not be written"):
        await replay_to_file(nc, store.spec, out,
                             selection=ReplayFilter(territories=[case.territory]),
                             viewer=REVIEWER, decoder=store.decoder,
                             record_read=refuse)  # fmt: skip

    # while the reads were being recorded, the personal data sat in one private part file
    [(text, mode)] = seen[0]
    assert INVENTED_NAME in text
    assert mode == 0o600
    assert listing(tmp_path) == []  # and nothing is left once the record failed


async def test_an_interrupted_replay_leaves_no_file(
    nc: Client, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    case = new_case()
    await write_case(store, case)
    recorded: list[CaseRef] = []

    async def record(c: CaseRef) -> None:
        recorded.append(c)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of the scan

    with pytest.raises(KeyboardInterrupt):
        await replay_to_file(nc, store.spec, tmp_path / "r.jsonl",
                             selection=ReplayFilter(territories=[case.territory]),
                             viewer=REVIEWER, decoder=store.decoder, record_read=record,
                             progress=interrupt)  # fmt: skip

    assert recorded == []
    assert listing(tmp_path) == []


async def test_undecodable_events_are_marked_unreadable_and_the_replay_goes_on(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    tmp_path: Path,
) -> None:  # fmt: skip
    case = new_case()
    await write_case(store, case)
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies[:1], side_store, case)
    # a sealed value whose ciphertext was altered, a JSON array, an envelope without type
    report = json.loads(bodies[0].body)
    name = report["data"]["students"][0]["name"]
    name["ct"] = ("A" if name["ct"][0] != "A" else "B") + name["ct"][1:]
    await publish_raw(nc, side_store, case, "intake.case_reported", json.dumps(report).encode())
    await publish_raw(nc, side_store, case, "intake.note_added", b"[1, 2]")
    await publish_raw(nc, side_store, case, "intake.note_added", b'{"id": "x", "data": {}}')
    await publish_raw(nc, side_store, case, "intake.note_added", b"\xff not json")
    await copy_case(nc, bodies[1:], side_store, case)

    reviewer = await cli("replay", "--out", str(tmp_path / "r.jsonl"), **side_env(side_store))
    analyst = await cli("replay", "--out", str(tmp_path / "a.jsonl"), role="analyst",
                        **side_env(side_store))  # fmt: skip
    stats = await cli("stats", "--json", role="analyst", **side_env(side_store))

    assert reviewer.exit_code == 0, reviewer.output
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(rows) == len(bodies) + 4
    unreadable = [r for r in rows if "unreadable" in r]
    assert [r["unreadable"].split(" (")[0] for r in unreadable] == [
        "cannot be decoded", "stored message is not a JSON object",
        "stored message has no event type", "stored message is not JSON",
    ]  # fmt: skip
    assert INVENTED_NAME in (tmp_path / "r.jsonl").read_text()  # the sound events are opened
    assert analyst.exit_code == 0, analyst.output
    # and the reviewer's read, recorded on the case since
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == len(bodies) + 5
    assert stats.exit_code == 0, stats.output
    assert "Traceback" not in reviewer.output + analyst.output + stats.output
    kinds = [json.loads(m.body).get("type") for m in await side_store.read_raw(case)
             if m.body.startswith(b"{")]  # fmt: skip
    assert kinds.count("org.sexto.audit.case_read.v2") == 1  # the reviewer's, on record


async def test_stats_skip_a_report_without_its_protocol(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    case, broken = new_case(), new_case()
    await write_case(store, case)
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies, side_store, case)
    report = json.loads(bodies[0].body)
    del report["data"]["protocol"]
    await publish_raw(nc, side_store, broken, "intake.case_reported", json.dumps(report).encode())

    figures = await compute_stats(nc, side_store.spec)

    assert figures.cases == 1
    assert figures.unreadable == 1
