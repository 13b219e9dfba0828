"""The analytics export's pure parts: one case's facts folded from events as analysts see
them, and a disclosed value in its column (given events, then rows: no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from sexto_legal.analytics.facts import CaseFacts, shredded_student
from sexto_legal.analytics.tables import JSON, TIME, cell

CASE = "c-0001"
NINE = datetime(2026, 11, 2, 9, tzinfo=UTC)


def shown(kind: str, hours: float, **data: Any) -> dict[str, Any]:
    """An event of type `kind` (context.event) as analysts see it, `hours` after 09:00."""
    return {
        "type": f"org.sexto.{kind}.v1",
        "subject": CASE,
        "territory": "spvm",
        "time": (NINE + timedelta(hours=hours)).isoformat(),
        "protocolversion": "pv-1" if kind == "intake.case_reported" else None,
        "data": data,
    }


REPORT = shown(
    "intake.case_reported", 1, protocol="sexto-qc", school_id="sch-9",
    discovered_at="2026-11-02T09:00:00Z", discovery_channel="student_disclosure",
    summary={"withheld": True},
    students=[
        {"student_ref": "s-a", "roles": ["depicted"], "age": "14_15", "grade": "grades_9_10",
         "name": {"withheld": True}},
        {"student_ref": "s-b", "roles": ["sender"], "age": "16_17", "grade": None,
         "name": {"withheld": True}},
    ],
)  # fmt: skip


def folded(*events: dict[str, Any]) -> CaseFacts:
    facts = CaseFacts(CASE, "spvm")
    for seq, event in enumerate(events, start=10):
        facts.take(seq, event)
    return facts


def test_a_case_row_holds_its_milestones_decisions_and_outcome() -> None:
    facts = folded(
        REPORT,
        shown("escalation.requested", 2, urgency="high", students=[
            {"student_ref": "s-b", "roles": ["sender"], "indication": "malicious"}]),
        shown("escalation.overdue", 3, step="acknowledge"),
        shown("escalation.kit_collected", 5),
        shown("escalation.kit_collected", 7),  # only the first counts
        shown("escalation.prosecutor_decided", 30, student_ref="s-b", decision="malicious"),
        shown("escalation.prosecutor_decided", 31, student_ref="s-b", decision="impulsive"),
        shown("intake.case_closed", 40, resolution="educational_path_completed"),
    )  # fmt: skip

    row = facts.case_row(run=3)

    assert row["run"] == 3
    assert row["version"] == 17
    assert row["events"] == 8
    assert (row["school"], row["protocol"], row["protocol_version"]) == (
        "sch-9",
        "sexto-qc",
        "pv-1",
    )
    assert row["month"] == "2026-11"
    assert row["discovered_at"] == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert row["escalation_requested_hours"] == 2
    assert row["kit_collected_hours"] == 5
    assert row["decision_hours"] == 30
    assert row["decisions"] == ["impulsive"]  # the latest per student
    assert row["indications"] == ["malicious"]
    assert row["overdue"] == ["acknowledge"]
    assert row["uk_outcomes"] == []
    assert (row["escalated"], row["urgency"], row["students"]) == (True, "high", 2)
    assert (row["closed"], row["resolution"]) == (True, "educational_path_completed")


def test_students_get_bands_tracks_and_latest_decision_and_the_shredded_none() -> None:
    decided = shown("escalation.prosecutor_decided", 30, student_ref="s-b", decision="malicious")
    before = folded(REPORT, decided)
    after = folded(
        REPORT, decided,
        shown("legal.subject_shredded", 50, subject_key=f"student:{CASE}:s-b"),
    )  # fmt: skip

    rows = before.student_rows(run=1)

    assert [(r["student"], r["track"], r["age_band"], r["grade_band"], r["decision"])
            for r in rows] == [("s-a", "victim", "14_15", "grades_9_10", None),
                               ("s-b", "offender", "16_17", None, "malicious")]  # fmt: skip
    assert [r["student"] for r in after.student_rows(run=2)] == ["s-a"]
    row = after.case_row(run=2)
    assert (row["students"], row["decisions"]) == (1, [])


def test_a_uk_case_counts_its_referrals_or_none() -> None:
    uk = {**REPORT, "data": {**REPORT["data"], "protocol": "uk-dsl"}}

    assert folded(uk).case_row(1)["uk_outcomes"] == ["not_referred"]
    referred = folded(uk, shown("escalation.referral_recorded", 4, agency="police"),
                      shown("escalation.referral_recorded", 5, agency="other"))  # fmt: skip
    assert referred.case_row(1)["uk_outcomes"] == ["other", "police"]


def test_only_a_student_key_names_a_student() -> None:
    assert shredded_student("student:c-1:s-2") == "s-2"
    assert shredded_student("recipient:c-1:r-2") is None
    assert shredded_student("case:c-1") is None
    assert shredded_student({"withheld": True}) is None


def test_a_value_lands_in_its_column_or_is_null() -> None:
    assert cell(pa.string(), {"withheld": True}) is None
    assert cell(pa.string(), {"erased": True}) is None
    assert cell(pa.int64(), "14_15") is None
    assert cell(pa.int64(), 1.5) is None
    assert cell(pa.float64(), 2) == 2
    assert cell(pa.bool_(), 1) is None
    assert cell(TIME, "2026-11-02T09:00:00Z") == datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert cell(pa.list_(pa.string()), ["a", {"withheld": True}]) == ["a"]
    assert cell(JSON, {"b": 1, "a": [{"withheld": True}]}) == '{"a":[{"withheld":true}],"b":1}'
