"""One case's facts for analysts, folded from its events as analysts see them (keyed
pseudonyms, bands; sealed values withheld): a row of the `cases` table and one row of the
`students` table per student.

The times, decisions, overdue steps and UK outcomes are `sexto_legal.stats.CaseFigures`,
folded by the same rules as `sexto stats`; a student's track is the lifecycle's rule
(`CaseLifecycle.track`). A student whose key was shredded (legal.subject_shredded, or
listed by legal.case_erased) is left out of the students, the indications and the
decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sexto_protocols.lifecycle import CaseLifecycle

from sexto_legal.stats import MILESTONES, CaseFigures
from sexto_legal.stored_case import data_of, kind_of


@dataclass
class _Student:
    roles: list[str] = field(default_factory=list)
    age_band: str | None = None
    grade_band: str | None = None
    indication: str | None = None
    assessed_track: str | None = None


def _text(value: Any) -> str | None:
    """A value analysts are given as text (a withheld one is None)."""
    return value if isinstance(value, str) else None


def shredded_student(subject_key: Any) -> str | None:
    """The student pseudonym a shredded key names (student:<case>:<student>), if any."""
    if not isinstance(subject_key, str):
        return None
    parts = subject_key.split(":")
    return parts[2] if len(parts) == 3 and parts[0] == "student" else None


class CaseFacts:
    """Folds one case's disclosed envelopes, in order."""

    def __init__(self, case: str, territory: str) -> None:
        self.case = case
        self.figures = CaseFigures(territory)
        self.version = 0
        self.events = 0
        self.school: str | None = None
        self.protocol_version: str | None = None
        self.discovery_channel: str | None = None
        self.escalated = False
        self.urgency: str | None = None
        self.recommendation: str | None = None
        self.closed = False
        self.resolution: str | None = None
        self.students: dict[str, _Student] = {}
        self.shredded: set[str] = set()

    def take(self, seq: int, shown: Mapping[str, Any]) -> None:
        """One event of the case as analysts see it (disclosed_stored); raises as
        CaseFigures.take does on an event lacking what its type counts for."""
        self.figures.take(dict(shown))
        self.version = max(self.version, seq)
        self.events += 1
        kind = kind_of(dict(shown))
        data = data_of(dict(shown))
        if kind == "intake.case_reported":
            self.school = _text(data.get("school_id"))
            self.protocol_version = _text(shown.get("protocolversion"))
            self.discovery_channel = _text(data.get("discovery_channel"))
            for student in data.get("students") or []:
                self._named(student)
        elif kind == "intake.student_added":
            self._named(data.get("student") or {})
        elif kind == "intake.student_role_changed":
            self._student(data.get("student_ref")).roles = list(data.get("roles") or [])
        elif kind == "evaluation.assessment_made":
            self.urgency = _text(data.get("urgency"))
            self.recommendation = _text(data.get("recommendation"))
            for each in data.get("students") or []:
                student = self._student(each.get("student_ref"))
                student.indication = _text(each.get("indication"))
                student.assessed_track = _text(each.get("track"))
        elif kind == "escalation.requested":
            self.escalated = True
            self.urgency = _text(data.get("urgency"))
            for each in data.get("students") or []:
                self._student(each.get("student_ref")).indication = _text(each.get("indication"))
        elif kind == "escalation.urgency_changed":
            self.urgency = _text(data.get("urgency"))
        elif kind == "intake.case_closed":
            self.closed = True
            self.resolution = _text(data.get("resolution"))
        elif kind == "legal.subject_shredded":
            self._shred(data.get("subject_key"))
        elif kind == "legal.case_erased":
            for key in data.get("subject_keys") or []:
                self._shred(key)

    def _named(self, student: Mapping[str, Any]) -> None:
        found = self._student(student.get("student_ref"))
        found.roles = list(student.get("roles") or [])
        found.age_band = _text(student.get("age"))
        found.grade_band = _text(student.get("grade"))

    def _student(self, ref: Any) -> _Student:
        key = ref if isinstance(ref, str) else ""
        return self.students.setdefault(key, _Student())

    def _shred(self, subject_key: Any) -> None:
        student = shredded_student(subject_key)
        if student is not None:
            self.shredded.add(student)

    def _kept(self) -> dict[str, _Student]:
        return {ref: s for ref, s in self.students.items() if ref and ref not in self.shredded}

    def case_row(self, run: int) -> dict[str, Any]:
        """The case's row of the `cases` table."""
        figures = self.figures
        kept = self._kept()
        hours = figures.hours()
        row: dict[str, Any] = {
            "run": run,
            "case": self.case,
            "version": self.version,
            "territory": figures.territory,
            "school": self.school,
            "protocol": figures.protocol,
            "protocol_version": self.protocol_version,
            "month": figures.month(),
            "discovered_at": figures.discovered,
            "discovery_channel": self.discovery_channel,
            "students": len(kept),
            "escalated": self.escalated,
            "urgency": self.urgency,
            "recommendation": self.recommendation,
            "indications": sorted(s.indication for s in kept.values() if s.indication),
            "decisions": sorted(d for ref, d in figures.decisions.items() if ref in kept),
            "overdue": sorted(figures.overdue.elements()),
            "uk_outcomes": figures.uk_outcomes(),
            "closed": self.closed,
            "resolution": self.resolution,
            "events": self.events,
        }
        for name in MILESTONES.values():
            row[f"{name}_at"] = figures.milestones.get(name)
            row[f"{name}_hours"] = hours.get(name)
        return row

    def student_rows(self, run: int) -> list[dict[str, Any]]:
        """The case's rows of the `students` table (shredded students left out)."""
        kept = self._kept()
        lifecycle = CaseLifecycle(
            students={ref: tuple(s.roles) for ref, s in kept.items()},
            assessed_tracks={ref: s.assessed_track for ref, s in kept.items() if s.assessed_track},
        )
        return [
            {
                "run": run,
                "case": self.case,
                "version": self.version,
                "student": ref,
                "roles": student.roles,
                "track": lifecycle.track(ref).value,
                "age_band": student.age_band,
                "grade_band": student.grade_band,
                "indication": student.indication,
                "decision": self.figures.decisions.get(ref),
            }
            for ref, student in sorted(kept.items())
        ]
