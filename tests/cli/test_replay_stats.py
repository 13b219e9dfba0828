"""Replay to a file (pseudonymised for analysts) and statistics equal to a direct computation."""

from __future__ import annotations

import json
import random
import statistics
import uuid
from datetime import timedelta
from pathlib import Path

from nats.aio.client import Client
from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationOverdue,
    EscalationRequested,
    KitCollected,
    ProsecutorDecided,
    ReferralRecorded,
)
from sexto_events.catalogue.intake import (
    CaseReported,
    DiscoveryChannel,
    Protocol,
    StudentInvolved,
    StudentRole,
)
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore
from sexto_legal.stats import compute_stats

from tests.cli.conftest import T0, Cli, NewCase, write_case
from tests.support.events import INVENTED_NAME


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_replay_of_a_territory_is_pseudonymised_for_analysts(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    case = new_case()
    other = CaseRef(case.territory, uuid.uuid4().hex)
    await write_case(store, case)
    await write_case(store, other, name="Ottoline Brackenbury")

    analyst = await cli("replay", "--territory", case.territory, "--out", str(tmp_path / "a.jsonl"),
                        role="analyst")  # fmt: skip
    reviewer = await cli(
        "replay", "--territory", case.territory, "--out", str(tmp_path / "r.jsonl")
    )

    assert analyst.exit_code == 0, analyst.output
    assert reviewer.exit_code == 0, reviewer.output
    text = (tmp_path / "a.jsonl").read_text()
    rows = read_lines(tmp_path / "a.jsonl")
    assert len(rows) == 12
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)  # type: ignore[type-var]
    for secret in (INVENTED_NAME, "Ottoline", case.case_id, other.case_id, "stu-1", "po-12"):
        assert secret not in text
    assert len({r["subject"] for r in rows}) == 2
    opened = (tmp_path / "r.jsonl").read_text()
    assert INVENTED_NAME in opened
    assert "Ottoline Brackenbury" in opened
    # the reviewer's read of each case is on its record; the analyst's pseudonymised one not
    for each in (case, other):
        recorded = [json.loads(m.body) for m in await store.read_raw(each)]
        reads = [r for r in recorded if r["type"] == "org.sexto.audit.case_read.v2"]
        assert [(r["data"]["view"], r["actor"]) for r in reads] == [
            ("replay", "legal_reviewer-test")
        ]
    assert "recorded on each case" in reviewer.stdout


async def test_replay_selects_types_and_a_starting_sequence(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    case = new_case()
    await write_case(store, case)
    seqs = [m.seq for m in await store.read_raw(case)]

    out = tmp_path / "kits.jsonl"
    kits = await cli("replay", "--territory", case.territory, "--type", "escalation.kit_collected",
                     "--type", "org.sexto.intake.case_reported.v2", "--out", str(out))  # fmt: skip
    later = await cli("replay", "--since", str(seqs[3]), "--territory", case.territory,
                      "--out", str(tmp_path / "later.jsonl"))  # fmt: skip

    assert kits.exit_code == 0, kits.output
    assert [r["type"] for r in read_lines(out)] == [
        "org.sexto.intake.case_reported.v2", "org.sexto.escalation.kit_collected.v1"
    ]  # fmt: skip
    assert later.exit_code == 0, later.output
    rows = read_lines(tmp_path / "later.jsonl")
    assert [r["seq"] for r in rows][:3] == seqs[3:]
    assert [r["type"] for r in rows[3:]] == ["org.sexto.audit.case_read.v2"]  # the first replay
    resume = int(later.stdout.split("--since ")[-1].split()[0])
    assert resume > seqs[-1]
    following = await cli("replay", "--since", str(resume), "--territory", case.territory,
                          "--out", str(tmp_path / "following.jsonl"))  # fmt: skip
    assert following.exit_code == 0, following.output
    # only the reviewer's own last replay since: it opened the case's personal data, on record
    reads = read_lines(tmp_path / "following.jsonl")
    assert [(r["type"], r["data"]) for r in reads] == [
        (
            "org.sexto.audit.case_read.v2",
            {"view": "replay", "service": "legal", "policy_version": POLICY_VERSION},
        )
    ]


async def write_generated(store: EventStore, territory: str, rng: random.Random) -> list[dict]:  # type: ignore[type-arg]
    """A case with random times and outcome; returns what a direct computation needs."""
    case = CaseRef(territory, uuid.uuid4().hex)
    discovered = T0 + timedelta(days=rng.randrange(0, 120), minutes=rng.randrange(0, 600))
    protocol = rng.choice([Protocol.SEXTO_QC, Protocol.UK_DSL])
    students = rng.randint(1, 3)
    report = CaseReported(
        protocol=protocol, school_id="school-042", discovered_at=discovered,
        discovery_channel=DiscoveryChannel.OTHER, summary="invented",
        students=[StudentInvolved(student_ref=f"s{i}", roles=[StudentRole.RECEIVER],
                                  name="Invented") for i in range(students)],
    )  # fmt: skip
    at = discovered + timedelta(hours=rng.uniform(0.1, 3))
    events = [NewEvent(report, "iv", "intervener", time=at)]
    facts: dict[str, object] = {"month": discovered.strftime("%Y-%m"), "protocol": protocol.value,
                                "territory": territory, "decisions": {}}  # fmt: skip
    if rng.random() < 0.8:
        at += timedelta(hours=rng.uniform(0.1, 10))
        facts["escalation_requested"] = (at - discovered).total_seconds() / 3600
        events.append(NewEvent(EscalationRequested(
            school_id="school-042", protocol=protocol.value, urgency="routine",
            students=[EscalatedStudent(student_ref="s0", roles=["receiver"],
                                       indication="impulsive")],
            seal_numbers=[], intervener_ref="iv", assessment_event_id="a"),
            "svc", "service", time=at))  # fmt: skip
        if rng.random() < 0.3:
            step = rng.choice(["acknowledge", "collect_kit"])
            facts["overdue"] = [step]
            overdue = EscalationOverdue(step=step, urgency="routine", deadline=at)
            events.append(NewEvent(overdue, "svc", "service", time=at))
        if protocol is Protocol.UK_DSL:
            agencies = rng.sample(["police", "childrens_social_care", "other"], rng.randint(0, 2))
            facts["agencies"] = agencies
            events += [NewEvent(ReferralRecorded(agency=a, reference="REF-1"), "dsl",
                                "safeguarding_lead", time=at) for a in agencies]  # fmt: skip
        if rng.random() < 0.8:
            at += timedelta(hours=rng.uniform(0.5, 48))
            facts["kit_collected"] = (at - discovered).total_seconds() / 3600
            events.append(NewEvent(KitCollected(officer_ref="po", seals=[], missing_seals=[],
                                                unexpected_seals=[], flagged=False),
                                   "po", "police_officer", time=at))  # fmt: skip
            decisions: dict[str, str] = {}
            for i in range(students):
                if rng.random() < 0.7:
                    at += timedelta(hours=rng.uniform(1, 200))
                    facts.setdefault("decision", (at - discovered).total_seconds() / 3600)
                    # sometimes amended: the latest decision per student counts
                    for _ in range(rng.choice([1, 1, 2])):
                        decisions[f"s{i}"] = rng.choice(
                            ["impulsive", "malicious", "no_further_action"]
                        )
                        events.append(NewEvent(ProsecutorDecided(
                            student_ref=f"s{i}", decision=decisions[f"s{i}"], reasons="invented",
                            follow_up="none"), "dpcp", "prosecutor", time=at))  # fmt: skip
            facts["decisions"] = decisions
    version = CaseVersion.new()
    for event in events:
        version = (await store.append(case, [event], version)).version
    return [facts]


async def test_statistics_equal_a_direct_computation(nc: Client, store: EventStore) -> None:
    rng = random.Random(7)
    suffix = uuid.uuid4().hex[:8]
    territories = [f"sta{suffix}", f"stb{suffix}"]
    generated = []
    for _ in range(40):
        generated += await write_generated(store, rng.choice(territories), rng)

    figures = await compute_stats(nc, store.spec, territories=territories)

    per_month: dict[tuple[str, str, str], int] = {}
    for f in generated:
        key = (str(f["month"]), str(f["territory"]), str(f["protocol"]))
        per_month[key] = per_month.get(key, 0) + 1
    decisions: dict[str, int] = {}
    for f in generated:
        for decision in f["decisions"].values():
            decisions[decision] = decisions.get(decision, 0) + 1
    assert figures.cases == 40
    assert figures.per_month == per_month
    assert figures.decisions == decisions
    qualified = decisions.get("impulsive", 0) + decisions.get("malicious", 0)
    assert decisions.get("no_further_action", 0) > 0  # the base excludes them
    assert figures.share("impulsive") == decisions.get("impulsive", 0) / qualified
    assert figures.share("malicious") == decisions.get("malicious", 0) / qualified
    assert figures.share("no_further_action") is None
    assert figures.to_json()["no_further_action"] == decisions["no_further_action"]
    overdue: dict[str, int] = {}
    uk: dict[str, int] = {}
    for f in generated:
        for step in f.get("overdue", []):
            overdue[step] = overdue.get(step, 0) + 1
        if f["protocol"] == "uk-dsl":
            for outcome in sorted(f.get("agencies") or []) or ["not_referred"]:
                uk[outcome] = uk.get(outcome, 0) + 1
    assert figures.overdue == overdue
    assert len(overdue) == 2
    assert figures.uk_outcomes == uk
    assert len(uk) == 4  # the three agencies and not_referred
    for name in ("escalation_requested", "kit_collected", "decision"):
        hours = [float(f[name]) for f in generated if name in f]
        got = figures.milestones[name]
        assert got.cases == len(hours) > 5
        assert abs((got.median_hours or 0) - statistics.median(hours)) < 1e-6
        p90 = statistics.quantiles(hours, n=10, method="inclusive")[8]
        assert abs((got.p90_hours or 0) - p90) < 1e-6


async def test_stats_command_prints_the_figures(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)

    result = await cli("stats", "--territory", case.territory, "--json", role="analyst")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["per_month"] == [
        {"month": "2026-11", "territory": case.territory, "protocol": "sexto-qc", "cases": 1}
    ]
    assert shown["impulsive_share"] == 1.0
    assert shown["milestones"]["kit_collected"] == {
        "cases": 1,
        "median_hours": 5.0,
        "p90_hours": 5.0,
    }
