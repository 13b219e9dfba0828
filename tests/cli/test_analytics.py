"""`sexto export-analytics` and `sexto report` against the suite's real servers: the Parquet
tables read back with DuckDB and polars and agree with `sexto stats`; runs are incremental
and idempotent; a shredded student is withdrawn; another analysis key's folder is refused;
an interrupted run leaves the folder readable and the next run finishes the work."""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from nats.aio.client import Client
from sexto_events.catalogue.escalation import EscalationOverdue, ReferralRecorded
from sexto_events.catalogue.intake import (
    CaseClosed,
    CaseReported,
    DiscoveryChannel,
    Protocol,
    StudentAdded,
    StudentInvolved,
    StudentRole,
)
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import POLICY_VERSION, Pseudonymiser, Viewer
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_legal.analytics.export import export_analytics
from sexto_legal.analytics.report import FIGURES_ID
from sexto_legal.analytics.tables import columns_markdown

from tests.cli.conftest import T0, Cli, NewCase, at, close_case, output_json, write_case
from tests.cli.test_replay_stats import write_generated
from tests.support.events import INVENTED_NAME
from tests.support.raw import envelope_for, publish_raw


def q(out: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a DuckDB query; `{cases}`, `{students}` and `{events:ctx.event}` name the
    export's tables (every run)."""
    sql = sql.replace("{cases}", f"read_parquet('{out}/run-*/cases.parquet', union_by_name=true)")
    sql = sql.replace(
        "{students}", f"read_parquet('{out}/run-*/students.parquet', union_by_name=true)"
    )
    sql = re.sub(
        r"\{events:([a-z_.]+)\}",
        lambda m: f"read_parquet('{out}/run-*/events/{m.group(1)}.parquet', union_by_name=true)",
        sql,
    )
    with duckdb.connect() as con:
        return con.execute(sql, list(params)).fetchall()


# The erasure's own record keeps the key id it shredded (pseudonymised), by design.
ERASURE_RECORDS = ("legal.subject_shredded.parquet", "legal.case_erased.parquet")


def every_cell(out: Path, leave_out: tuple[str, ...] = ()) -> str:
    """Every row of every table of every partition but these files, as text."""
    return "\n".join(
        str(row)
        for path in sorted(out.rglob("*.parquet"))
        if path.name not in leave_out
        for row in q(out, f"SELECT * FROM read_parquet('{path}')")
    )


NEWEST_FIRST = 'PARTITION BY "case" ORDER BY version DESC'
LATEST = f"SELECT * FROM {{cases}} QUALIFY row_number() OVER ({NEWEST_FIRST}) = 1"


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text())  # type: ignore[no-any-return]


async def export(cli: Cli, out: Path, **env: str) -> str:
    result = await cli("export-analytics", "--out", str(out), role="analyst", **env)
    assert result.exit_code == 0, result.output
    return result.stdout


async def exported_case(cli: Cli, store: EventStore, case: CaseRef, out: Path) -> CaseRef:
    """A whole SEXTO case written, then the log exported to `out`."""
    await write_case(store, case)
    await export(cli, out)
    return case


async def write_uk_case(store: EventStore, case: CaseRef, agencies: list[str]) -> None:
    """A UK case: reported, an acknowledgement overdue, referred to these agencies."""
    report = CaseReported(
        protocol=Protocol.UK_DSL, school_id="school-7", discovered_at=T0,
        discovery_channel=DiscoveryChannel.OTHER, summary="invented",
        students=[StudentInvolved(student_ref="s0", roles=[StudentRole.RECEIVER], age=15,
                                  grade="Year 10", name="Invented Person")],
    )  # fmt: skip
    events = [NewEvent(report, "dsl-1", "safeguarding_lead", time=at(1))]
    overdue = EscalationOverdue(step="acknowledge", urgency="high", deadline=at(2))
    events.append(NewEvent(overdue, "svc", "service", time=at(3)))
    for agency in agencies:
        events.append(NewEvent(ReferralRecorded(agency=agency, reference="REF-1"), "dsl-1",
                               "safeguarding_lead", time=at(4)))  # fmt: skip
    version = CaseVersion.new()
    for event in events:
        version = (await store.append(case, [event], version)).version


def outcomes(
    generated: list[dict[str, Any]], uk_cases: list[list[str]]
) -> tuple[Counter[str], Counter[str]]:
    """Overdue steps and UK outcomes expected of generated cases and of UK cases written by
    `write_uk_case` with these agencies (one overdue acknowledgement each)."""
    overdue: Counter[str] = Counter(step for f in generated for step in f.get("overdue", []))
    overdue["acknowledge"] += len(uk_cases)
    uk: Counter[str] = Counter()
    for agencies in [f.get("agencies") for f in generated if f["protocol"] == "uk-dsl"] + uk_cases:
        uk.update(sorted(agencies or []) or ["not_referred"])
    return overdue, uk


async def write_territory(
    store: EventStore, seed: int, cases: int, uk_cases: list[list[str]]
) -> tuple[str, list[dict[str, Any]]]:
    """A fresh territory of generated cases, then UK cases referred to these agencies."""
    rng = random.Random(seed)
    territory = f"an{uuid.uuid4().hex[:8]}"
    generated = []
    for _ in range(cases):
        generated += await write_generated(store, territory, rng)
    for agencies in uk_cases:
        await write_uk_case(store, CaseRef(territory, uuid.uuid4().hex), agencies)
    return territory, generated


async def test_export_reads_back_with_duckdb_and_polars_and_agrees_with_stats(
    cli: Cli, store: EventStore, tmp_path: Path
) -> None:
    territory, generated = await write_territory(store, 20, 30, [["police"], []])
    out = tmp_path / "export"

    printed = await export(cli, out)
    stats = output_json(await cli("stats", "--territory", territory, "--json", role="analyst"))

    assert "run 1:" in printed
    assert q(out, "SELECT count(*) FROM {cases} WHERE territory = ?", territory) == [(32,)]
    assert stats["cases"] == 32
    reported = q(out, "SELECT count(*) FROM {events:intake.case_reported} WHERE territory = ?",
                 territory)  # fmt: skip
    assert reported == [(32,)]
    per_month = q(out, "SELECT month, protocol, count(*) FROM {cases} WHERE territory = ? "
                  "GROUP BY ALL ORDER BY ALL", territory)  # fmt: skip
    assert [list(r) for r in per_month] == [
        [r["month"], r["protocol"], r["cases"]] for r in stats["per_month"]
    ]
    for name in ("escalation_requested", "kit_collected", "decision"):
        (median, p90, n), = q(out, f"SELECT quantile_cont({name}_hours, 0.5), "
                              f"quantile_cont({name}_hours, 0.9), count({name}_hours) "
                              "FROM {cases} WHERE territory = ?", territory)  # fmt: skip
        figures = stats["milestones"][name]
        assert n == figures["cases"] > 5
        assert median == pytest.approx(figures["median_hours"], abs=1e-9)
        assert p90 == pytest.approx(figures["p90_hours"], abs=1e-9)
    decided = q(out, "SELECT decision, count(*) FROM {students} WHERE \"case\" IN "
                "(SELECT \"case\" FROM {cases} WHERE territory = ?) AND decision IS NOT NULL "
                "GROUP BY ALL", territory)  # fmt: skip
    assert dict(decided) == stats["decisions"]
    overdue = q(out, "SELECT x, count(*) FROM (SELECT unnest(overdue) AS x FROM {cases} "
                "WHERE territory = ?) GROUP BY x", territory)  # fmt: skip
    expected_overdue, expected_uk = outcomes(generated, [["police"], []])
    assert dict(overdue) == stats["overdue"] == expected_overdue
    uk = q(out, "SELECT x, count(*) FROM (SELECT unnest(uk_outcomes) AS x FROM {cases} "
           "WHERE territory = ?) GROUP BY x", territory)  # fmt: skip
    assert dict(uk) == stats["uk_outcomes"] == expected_uk
    types = dict(q(out, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {cases})"))
    assert types["discovered_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["kit_collected_hours"] == "DOUBLE"
    assert types["decisions"] == "VARCHAR[]"
    assert types["version"] == "BIGINT"
    # polars reads the same files; the students are pseudonymous, in bands
    students = pl.read_parquet(out / "run-00001" / "students.parquet")
    uk_students = students.filter(pl.col("grade_band") == "grades_9_10")
    assert uk_students.height == 2
    assert set(uk_students["age_band"]) == {"14_15"}
    assert students.schema["roles"] == pl.List(pl.String)
    assert all(s.startswith("s-") for s in students["student"])
    kits = pl.read_parquet(out / "run-00001" / "events" / "escalation.kit_collected.parquet")
    assert kits.schema["time"] == pl.Datetime("us", "UTC")
    assert kits.filter(pl.col("territory") == territory).height == stats["milestones"][
        "kit_collected"]["cases"]  # fmt: skip


async def test_nothing_personal_reaches_the_export(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    out = tmp_path / "export"

    case = await exported_case(cli, store, new_case(), out)

    text = every_cell(out)
    for secret in (INVENTED_NAME, case.case_id, "stu-1", "po-12", "intervener-7", "SB-0042",
                   "school-042", "first incident"):  # fmt: skip
        assert secret not in text
    (row,) = q(out, "SELECT school, students, decisions, escalated FROM {cases} "
               "WHERE territory = ?", case.territory)  # fmt: skip
    assert row[0].startswith("sch-")
    assert row[1:] == (1, ["impulsive"], True)
    columns = [c for c, _ in q(out, "SELECT column_name, 1 FROM (DESCRIBE SELECT * FROM "
                                    "{events:intake.note_added})")]  # fmt: skip
    assert "text" not in columns  # narrative: no column for analysts


async def test_runs_are_incremental_idempotent_and_cases_changed_come_again(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    case, other = new_case(), new_case()
    await write_case(store, case)
    await write_case(store, other)
    out = tmp_path / "export"
    await export(cli, out)
    first = manifest(out)

    again = await export(cli, out)

    assert "up to date" in again
    assert manifest(out) == first
    await close_case(store, case, at(40))
    later = await export(cli, out)
    second = manifest(out)

    assert "run 2:" in later
    assert [r["run"] for r in second["runs"]] == [1, 2]
    assert second["runs"][1]["from_seq"] == first["watermark"] + 1
    assert second["watermark"] > first["watermark"]
    closures = q(out, "SELECT count(*) FROM {events:intake.case_closed} WHERE territory = ?",
                 case.territory)  # fmt: skip
    assert closures == [(1,)]
    # every event once over the runs: the second run wrote none of the first's
    duplicates = q(out, "SELECT count(*) - count(DISTINCT seq) FROM {events:intake.case_reported}")
    assert duplicates == [(0,)]
    rows = q(out, "SELECT run, version, closed FROM {cases} WHERE territory = ? ORDER BY run",
             case.territory)  # fmt: skip
    assert [(r[0], r[2]) for r in rows] == [(1, False), (2, True)]
    assert rows[1][1] > rows[0][1]
    latest = q(out, f"SELECT closed, resolution FROM ({LATEST}) WHERE territory = ?",
               case.territory)  # fmt: skip
    assert latest == [(True, "educational_path_completed")]
    untouched = q(out, "SELECT run FROM {cases} WHERE territory = ?", other.territory)
    assert untouched == [(1,)]


async def test_a_shredded_student_is_withdrawn_from_the_next_export(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    case = await exported_case(cli, store, new_case(), out)
    (student,) = q(out, "SELECT student FROM {students} WHERE \"case\" IN (SELECT \"case\" "
                   "FROM {cases} WHERE territory = ?)", case.territory)  # fmt: skip
    pseudonym = student[0]
    assert q(out, "SELECT count(*) FROM {events:escalation.prosecutor_decided} "
                  "WHERE student_ref = ?", pseudonym) == [(1,)]  # fmt: skip

    shred = await cli("shred", f"student:{case.case_id}:stu-1", "--reason", "erasure_request",
                      role="admin")  # fmt: skip
    assert shred.exit_code == 0, shred.output
    printed = await export(cli, out)

    run = manifest(out)["runs"][-1]
    assert run["withdrawn_students"] == 1
    assert run["withdrawn_rows"] >= 3  # its student row, its decision, its device
    assert "1 shredded student(s) withdrawn" in printed
    assert q(out, "SELECT count(*) FROM {students} WHERE student = ?", pseudonym) == [(0,)]
    for table, column in (("escalation.prosecutor_decided", "student_ref"),
                          ("intake.device_secured", "owner_ref")):  # fmt: skip
        assert q(out, f"SELECT count(*) FROM {{events:{table}}} WHERE {column} = ?",
                 pseudonym) == [(0,)]  # fmt: skip
    for table in ("intake.case_reported", "escalation.requested"):
        cells = q(out, f"SELECT students FROM {{events:{table}}} WHERE territory = ?",
                  case.territory)  # fmt: skip
        assert cells
        assert all(pseudonym not in c[0] for c in cells)
    latest = q(out, f"SELECT students, decisions FROM ({LATEST}) WHERE territory = ?",
               case.territory)  # fmt: skip
    assert latest == [(0, [])]
    # the erasure's own record stays
    assert q(out, "SELECT count(*) FROM {events:legal.subject_shredded} WHERE territory = ?",
             case.territory) == [(1,)]  # fmt: skip
    assert pseudonym not in every_cell(out, ERASURE_RECORDS)  # in no other table, any run


async def test_a_student_added_then_shredded_is_withdrawn_from_every_table(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    case = new_case()
    await write_case(store, case)
    version = (await store.load(case)).version
    added = StudentAdded(
        student=StudentInvolved(
            student_ref="stu-2",
            roles=[StudentRole.SENDER],
            age=15,
            grade="sec-3",
            name="Invented Other",
        )
    )
    await store.append(case, [NewEvent(added, "intervener-7", "intervener", time=at(3))],
                       version)  # fmt: skip
    await export(cli, out)
    ((cell,),) = q(out, "SELECT student FROM {events:intake.student_added} WHERE territory = ?",
                   case.territory)  # fmt: skip
    pseudonym = json.loads(cell)["student_ref"]
    kept = q(
        out,
        'SELECT student FROM {students} WHERE student <> ? AND "case" IN '
        '(SELECT "case" FROM {cases} WHERE territory = ?)',
        pseudonym,
        case.territory,
    )
    assert len(kept) == 1  # stu-1, who stays
    assert pseudonym in every_cell(out)

    shred = await cli("shred", f"student:{case.case_id}:stu-2", "--reason", "erasure_request",
                      role="admin")  # fmt: skip
    assert shred.exit_code == 0, shred.output
    await export(cli, out)

    run = manifest(out)["runs"][-1]
    assert run["withdrawn_students"] == 1
    # the student_added row, and the student's row in run 1's `students`; no value of
    # another row named them, so none was edited (the report lists stu-1 only)
    assert (run["withdrawn_rows"], run["withdrawn_cells"]) == (2, 0)
    assert q(out, "SELECT count(*) FROM {events:intake.student_added} WHERE territory = ?",
             case.territory) == [(0,)]  # fmt: skip
    assert pseudonym not in every_cell(out, ERASURE_RECORDS)
    latest = q(out, f"SELECT students FROM ({LATEST}) WHERE territory = ?", case.territory)
    assert latest == [(1,)]
    still = q(out, "SELECT student FROM {students} WHERE student = ?", kept[0][0])
    assert len(still) == 2  # stu-1's rows of both runs stay


async def test_a_folder_of_another_analysis_key_is_refused(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    await exported_case(cli, store, new_case(), out)
    before = manifest(out)
    other_key = base64.b64encode(b"another analysis key!").decode()

    refused = await cli("export-analytics", "--out", str(out), role="analyst",
                        SEXTO_ANALYSIS_KEY=other_key)  # fmt: skip
    stranger = tmp_path / "not-an-export"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    not_export = await cli("export-analytics", "--out", str(stranger), role="analyst")
    reviewer = await cli("export-analytics", "--out", str(tmp_path / "r"))

    assert refused.exit_code == 2
    assert "another analysis key" in refused.output
    assert "SEXTO_ANALYSIS_KEY" in refused.output
    assert manifest(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "run-00001"]
    assert not_export.exit_code == 2
    assert "holds no analytics export" in not_export.output
    assert reviewer.exit_code == 2
    assert "analyst" in reviewer.output
    fresh = tmp_path / "fresh"
    assert "run 1:" in await export(cli, fresh, SEXTO_ANALYSIS_KEY=other_key)
    assert manifest(fresh)["key_fingerprint"] != before["key_fingerprint"]


async def test_a_folder_exported_under_another_disclosure_policy_version_is_refused(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    case = await exported_case(cli, store, new_case(), out)
    # as an older sexto, applying another version of the disclosure table, left it
    older = {**manifest(out), "policy_version": f"{POLICY_VERSION}-older"}
    (out / "manifest.json").write_text(json.dumps(older))
    await close_case(store, case, at(40))

    refused = await cli("export-analytics", "--out", str(out), role="analyst")

    assert refused.exit_code == 2
    assert f"disclosure policy version {POLICY_VERSION}-older" in refused.output
    assert "applies version" in refused.output
    assert "new (empty) folder" in refused.output
    assert "Traceback" not in refused.output
    assert manifest(out) == older
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "run-00001"]
    assert "run 1:" in await export(cli, tmp_path / "new")


async def test_an_unreadable_event_stays_in_the_manifest_until_a_run_can_read_it(
    nc: Client, side_store: EventStore, new_case: NewCase, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    case = new_case()
    await write_case(side_store, case)
    last = json.loads((await side_store.read_raw(case))[-1].body)
    # a closure written by a newer sexto, in a type version this catalogue does not declare
    future = "org.sexto.intake.case_closed.v9"
    body = envelope_for(case, future, {"resolution": "educational_path_completed"},
                        str(last["hash"])).to_bytes()  # fmt: skip
    seq = await publish_raw(nc, side_store, case, "intake.case_closed", body)
    viewer = Viewer(Role.ANALYST, Pseudonymiser(b"k" * 32))
    out = tmp_path / "export"

    first = await export_analytics(nc, side_store, out, viewer=viewer)

    assert first.record is not None
    assert (first.record.unreadable, first.pending) == (1, 1)
    assert manifest(out)["unreadable"] == [seq]
    assert manifest(out)["watermark"] == seq  # the watermark moves on; the event is kept
    assert not (out / "run-00001" / "events" / "intake.case_closed.parquet").exists()
    committed = manifest(out)

    still = await export_analytics(nc, side_store, out, viewer=viewer)  # tried, unreadable

    assert (still.record, still.pending) == (None, 1)
    assert manifest(out) == committed
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "run-00001"]

    # a newer catalogue, that declares the type
    monkeypatch.setitem(CATALOGUE._types, future, CaseClosed)
    read = await export_analytics(nc, side_store, out, viewer=viewer)

    assert read.record is not None
    assert (read.record.run, read.record.retried, read.record.events) == (2, 1, 1)
    assert (read.record.unreadable, read.pending) == (0, 0)
    after = manifest(out)
    assert after["unreadable"] == []
    assert after["watermark"] == seq
    closed = q(out, "SELECT seq, stored_type, resolution FROM {events:intake.case_closed}")
    assert closed == [(seq, future, "educational_path_completed")]
    rows = q(out, "SELECT run, version, events FROM {cases} ORDER BY run")
    assert [r[0] for r in rows] == [1, 2]
    assert rows[1][1:] == (seq, rows[0][2] + 1)  # folded again from its first event
    assert (await export_analytics(nc, side_store, out, viewer=viewer)).record is None
    assert manifest(out) == after


class Interrupted(Exception):
    pass


async def test_an_interrupted_export_leaves_the_folder_readable_and_the_next_run_resumes(
    nc: Client, cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    case = await exported_case(cli, store, new_case(), out)
    committed = manifest(out)
    await close_case(store, case, at(50))
    viewer = Viewer(Role.ANALYST, Pseudonymiser(b"k" * 32))
    keyed = tmp_path / "keyed"
    await export_analytics(nc, store, keyed, viewer=viewer)
    keyed_before = manifest(keyed)
    await write_case(store, new_case())

    def stop(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):  # stopped in the middle of reading the log
        await export_analytics(nc, store, keyed, viewer=viewer, progress=stop)
    assert manifest(keyed) == keyed_before
    assert sorted(p.name for p in keyed.iterdir()) == ["manifest.json", "run-00001"]

    # killed after renaming its partition, before the manifest: the partition is not
    # committed; and a temporary folder of a run killed earlier
    (out / "run-00002").mkdir()
    (out / "run-00002" / "cases.parquet").write_bytes(b"half written")
    (out / ".run-00003.part").mkdir()
    assert q(out, f"SELECT closed FROM read_parquet('{out}/run-00001/cases.parquet') WHERE "
             "territory = ?", case.territory) == [(False,)]  # fmt: skip
    resumed = await export(cli, out)

    assert "run 2:" in resumed
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "run-00001", "run-00002"]
    after = manifest(out)
    assert after["runs"][0] == committed["runs"][0]
    assert after["runs"][1]["from_seq"] == committed["watermark"] + 1
    latest = q(out, f"SELECT closed FROM ({LATEST}) WHERE territory = ?", case.territory)
    assert latest == [(True,)]


async def test_report_is_one_page_with_the_figures_of_stats(
    cli: Cli, store: EventStore, tmp_path: Path
) -> None:
    both = ["police", "childrens_social_care"]
    territory, generated = await write_territory(store, 21, 12, [both])
    page = tmp_path / "report.html"

    made = await cli("report", "--territory", territory, "--out", str(page), role="analyst")
    stats = output_json(await cli("stats", "--territory", territory, "--json", role="analyst"))

    assert made.exit_code == 0, made.output
    html = page.read_text()
    embedded = re.search(
        rf"<script type='application/json' id='{FIGURES_ID}'>(.*?)</script>", html, re.S
    )
    assert embedded is not None
    assert json.loads(embedded.group(1)) == stats
    expected_overdue, expected_uk = outcomes(generated, [both])
    assert stats["overdue"] == expected_overdue
    assert stats["uk_outcomes"] == expected_uk
    # no network at view time: nothing fetched, no script but the data
    assert not re.search(r"(src|href)\s*=", html)
    assert "default-src 'none'" in html
    assert html.count("<svg") == 5
    bars = dict(re.findall(r"<g data-label='([^']*)' data-value='([^']*)'>", html))
    for row in stats["per_month"]:
        label = f"{row['month']} {territory}"
        month_total = sum(r["cases"] for r in stats["per_month"] if r["month"] == row["month"])
        assert float(bars[label]) == month_total
    kit = stats["milestones"]["kit_collected"]
    assert float(bars["kit_collected (median)"]) == pytest.approx(kit["median_hours"])
    assert float(bars["kit_collected (p90)"]) == pytest.approx(kit["p90_hours"])
    assert float(bars["impulsive"]) == pytest.approx(stats["impulsive_share"])
    for name, n in [*expected_overdue.items(), *expected_uk.items()]:
        assert float(bars[name]) == n
    # the text of `sexto stats` shows them too
    text = await cli("stats", "--territory", territory, role="analyst")
    assert text.exit_code == 0, text.output
    for title in ("overdue steps", "UK path outcomes", "childrens_social_care", "collect_kit"):
        assert title in text.stdout


def test_docs_list_the_columns_the_export_writes() -> None:
    viewer = Viewer(Role.ANALYST, Pseudonymiser(b"k" * 32))
    current = [m for m in CATALOGUE.types() if CATALOGUE.is_current(m)]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "analytics.md").read_text()
    assert columns_markdown(viewer, current) in docs
