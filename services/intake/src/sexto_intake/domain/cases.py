"""Deciding a case report: pure, given the directory facts and the time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sexto_events.catalogue.directory import Jurisdiction
from sexto_events.catalogue.intake import CaseReported, Protocol, StudentInvolved
from sexto_events.messages import Message

from sexto_intake.domain.eligibility import (
    Agreement,
    Certification,
    check_protocol,
    check_sexto,
)
from sexto_intake.domain.errors import InvalidCommand, UnknownSchool

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class School:
    """What the directory says of a school (its jurisdiction: its territory's)."""

    school_id: str
    territory_id: str
    language: str
    jurisdiction: Jurisdiction


# Case ids derive from (caller, Idempotency-Key): a retry, even days later, names the
# same case, and the store recognises its first event as already written.
CASE_NAMESPACE = uuid.UUID("6f1d7a52-5b0e-4c57-9d0a-5e7f0c1a2b3c")


def report_case_id(caller: str, key: str) -> str:
    """The id of the case a caller's report with this Idempotency-Key opens."""
    return uuid.uuid5(CASE_NAMESPACE, f"{caller}|{key}").hex


def derived_student_ref(case_id: str, position: int) -> str:
    """The pseudonymous reference of a reported student given none, stable on retries."""
    return f"stu-{uuid.uuid5(CASE_NAMESPACE, f'{case_id}|{position}').hex[:12]}"


@dataclass(frozen=True, slots=True)
class ReportCase:
    """The command: an intervener reports an incident."""

    report: CaseReported


def decide_report(
    command: ReportCase,
    *,
    school: School | None,
    agreements: list[Agreement],
    certification: Certification | None,
    now: datetime,
) -> CaseReported:
    """The event to record, or a refusal saying what to fix."""
    report = command.report
    if school is None:
        raise UnknownSchool(Message("unknown-school", school=report.school_id))
    if report.discovered_at > now + CLOCK_SKEW:
        raise InvalidCommand(Message("discovered-in-future"))
    refs = [s.student_ref for s in report.students]
    if len(refs) != len(set(refs)):
        raise InvalidCommand(Message("students-not-distinct"))
    check_protocol(
        jurisdiction=school.jurisdiction, protocol=report.protocol, school_id=school.school_id
    )
    if report.protocol is Protocol.SEXTO_QC:
        check_sexto(
            territory_id=school.territory_id,
            agreements=agreements,
            certification=certification,
            school_id=school.school_id,
            discovered_on=report.discovered_at.date(),
        )
    return report


def students_summary(students: list[StudentInvolved]) -> list[dict[str, object]]:
    """Refs and roles only: what the read model may hold."""
    return [
        {
            "student_ref": s.student_ref,
            "roles": [r.value for r in s.roles],
            "age": s.age,
            "grade": s.grade,
        }
        for s in students
    ]
