"""Intake's rules without any server: given the case's events, when a fact or a report,
then the event recorded or the refusal and its kind."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.directory import Jurisdiction
from sexto_events.catalogue.intake import (
    ActionNotTaken,
    CaseClosed,
    CaseReported,
    ChecklistStepCompleted,
    DeviceSecured,
    NoteAdded,
    Protocol,
    StudentAdded,
    StudentRole,
    StudentRoleChanged,
)
from sexto_events.refusals import Refusal
from sexto_intake.domain.cases import (
    CLOCK_SKEW,
    ReportCase,
    School,
    decide_report,
    derived_student_ref,
    report_case_id,
)
from sexto_intake.domain.eligibility import PROTOCOLS, Agreement, Certification, check_sexto
from sexto_intake.domain.errors import (
    CaseAlreadyClosed,
    InvalidCommand,
    NotEligible,
    ProtocolNotForJurisdiction,
    UnknownSchool,
    UnknownStep,
    UnknownStudent,
)
from sexto_intake.domain.facts import decide_fact
from sexto_intake.domain.state import CaseState, evolve
from sexto_protocols import current

from tests.support.given import START, case_reported, recorded, state_of, student

SEXTO = current("sexto-qc")
UK = current("uk-dsl")
SENDER, DEPICTED = StudentRole.SENDER, StudentRole.DEPICTED


def case(*facts: EventData, protocol: Protocol = Protocol.SEXTO_QC) -> CaseState:
    """A case reported with stu-1 (depicted) and stu-2 (sender), then these facts."""
    version = SEXTO if protocol is Protocol.SEXTO_QC else UK
    report = case_reported(("stu-1", DEPICTED), ("stu-2", SENDER), protocol=protocol)
    return state_of(CaseState(), evolve, report, *facts, protocol_version=version.id)


def refused(error: Refusal, kind: str) -> Refusal:
    assert error.kind == kind
    assert error.detail
    return error


CLOSED = CaseClosed(resolution="resolved_educational")
SEALED = DeviceSecured(owner_ref="stu-2", measure="switched_off", seal_number="B-0001")


# --- facts on an open case ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fact",
    [
        NoteAdded(text="met the student with a parent"),
        StudentAdded(student=student("stu-3", StudentRole.REDISTRIBUTOR)),
        StudentRoleChanged(student_ref="stu-1", roles=[SENDER], reason="she sent it on too"),
        SEALED,
        DeviceSecured(owner_ref="stu-1", measure="flight_mode"),
        ChecklistStepCompleted(step_id="device_secured"),
        ActionNotTaken(action="parents_not_called", justification="risk at home"),
        CLOSED,
    ],
    ids=lambda fact: type(fact).__name__,
)
def test_a_fact_on_an_open_case_is_recorded_as_given(fact: EventData) -> None:
    assert decide_fact(case(), fact) == fact


@pytest.mark.parametrize(
    "fact",
    [
        NoteAdded(text="a note after closure"),
        StudentAdded(student=student("stu-3")),
        StudentRoleChanged(student_ref="stu-1", roles=[SENDER], reason="late correction"),
        SEALED,
        ChecklistStepCompleted(step_id="support_offered"),
        CLOSED,
    ],
    ids=lambda fact: type(fact).__name__,
)
def test_nothing_is_recorded_on_a_closed_case(fact: EventData) -> None:
    with pytest.raises(CaseAlreadyClosed) as error:
        decide_fact(case(CLOSED), fact)
    refused(error.value, "case-closed")


def test_a_student_already_on_the_case_is_not_added_twice() -> None:
    again = StudentAdded(student=student("stu-2", StudentRole.PRODUCER))

    with pytest.raises(InvalidCommand) as error:
        decide_fact(case(), again)
    assert "stu-2" in refused(error.value, "invalid-command").detail


def test_a_student_added_later_is_then_known_to_the_case() -> None:
    state = case(StudentAdded(student=student("stu-3", StudentRole.RECEIVER)))

    assert state.students == {"stu-1": ("depicted",), "stu-2": ("sender",),
                              "stu-3": ("receiver",)}  # fmt: skip
    with pytest.raises(InvalidCommand):
        decide_fact(state, StudentAdded(student=student("stu-3")))
    change = StudentRoleChanged(student_ref="stu-3", roles=[SENDER], reason="forwarded it")
    assert decide_fact(state, change) == change


@pytest.mark.parametrize(
    "fact",
    [
        StudentRoleChanged(student_ref="stu-9", roles=[SENDER], reason="no such student"),
        DeviceSecured(owner_ref="stu-9", measure="switched_off", seal_number="B-0009"),
    ],
    ids=lambda fact: type(fact).__name__,
)
def test_a_fact_about_an_unknown_student_is_refused_naming_the_known_ones(
    fact: EventData,
) -> None:
    with pytest.raises(UnknownStudent) as error:
        decide_fact(case(), fact)
    detail = refused(error.value, "unknown-student").detail
    assert "stu-9" in detail
    assert "['stu-1', 'stu-2']" in detail


def test_a_seal_number_is_recorded_once_per_case() -> None:
    other_phone = DeviceSecured(owner_ref="stu-1", measure="flight_mode", seal_number="B-0001")

    with pytest.raises(InvalidCommand) as error:
        decide_fact(case(SEALED), other_phone)
    assert "B-0001" in refused(error.value, "invalid-command").detail
    # Another bag number is another seal.
    fresh = other_phone.model_copy(update={"seal_number": "B-0002"})
    assert decide_fact(case(SEALED), fresh) == fresh


def test_devices_secured_without_a_bag_carry_no_seal_to_collide() -> None:
    unsealed = DeviceSecured(owner_ref="stu-1", measure="flight_mode")
    state = case(unsealed)

    assert state.seals == frozenset()
    assert decide_fact(state, unsealed) == unsealed


@pytest.mark.parametrize(
    ("protocol", "step"),
    [(Protocol.SEXTO_QC, s.id) for s in SEXTO.checklist]
    + [(Protocol.UK_DSL, s.id) for s in UK.checklist],
)
def test_every_checklist_step_of_the_case_protocol_version_is_accepted(
    protocol: Protocol, step: str
) -> None:
    fact = ChecklistStepCompleted(step_id=step)
    assert decide_fact(case(protocol=protocol), fact) == fact


@pytest.mark.parametrize(
    ("protocol", "step"),
    [
        (Protocol.SEXTO_QC, "teleport_phone"),
        (Protocol.SEXTO_QC, "reported_to_dsl"),  # a UK step, not SEXTO's
        (Protocol.UK_DSL, "kit_handed_over"),  # a SEXTO step, not the UK's
    ],
)
def test_a_step_outside_the_case_protocol_version_is_refused_listing_its_steps(
    protocol: Protocol, step: str
) -> None:
    version = SEXTO if protocol is Protocol.SEXTO_QC else UK

    with pytest.raises(UnknownStep) as error:
        decide_fact(case(protocol=protocol), ChecklistStepCompleted(step_id=step))
    detail = refused(error.value, "unknown-checklist-step").detail
    assert str([s.id for s in version.checklist]) in detail


def test_a_case_under_an_unknown_protocol_version_accepts_no_step() -> None:
    report = case_reported(("stu-1", SENDER))
    state = state_of(CaseState(), evolve, report, protocol_version="sha256:retired")

    with pytest.raises(UnknownStep) as error:
        decide_fact(state, ChecklistStepCompleted(step_id="device_secured"))
    assert "its steps are []" in refused(error.value, "unknown-checklist-step").detail


def test_the_case_state_is_the_sum_of_its_facts() -> None:
    state = case(
        StudentAdded(student=student("stu-3", StudentRole.RECEIVER)),
        StudentRoleChanged(student_ref="stu-1", roles=[SENDER], reason="she sent it on too"),
        SEALED,
        ChecklistStepCompleted(step_id="device_secured"),
        ChecklistStepCompleted(step_id="device_secured"),
        NoteAdded(text="a note changes no state"),
    )

    assert state.protocol == "sexto-qc"
    assert state.protocol_version == SEXTO.id
    assert state.students == {"stu-1": ("sender",), "stu-2": ("sender",),
                              "stu-3": ("receiver",)}  # fmt: skip
    assert state.seals == {"B-0001"}
    assert state.steps_done == {"device_secured"}
    assert not state.closed
    assert evolve(state, recorded(CLOSED, seq=99)).closed


# --- a report ---------------------------------------------------------------------------

QC_SCHOOL = School("school-042", "spvm", "fr", Jurisdiction.QC)
UK_SCHOOL = School("school-uk-1", "met", "en", Jurisdiction.ENGLAND)
AGREEMENT = Agreement("mou-spvm", date(2023, 9, 1), None)
CERTIFIED = Certification("school-042", "explorer", date(2025, 1, 10))
NOW = START + timedelta(hours=2)


def report(
    *students: str,
    protocol: Protocol = Protocol.SEXTO_QC,
    school_id: str = "school-042",
    discovered_at: datetime = START,
) -> ReportCase:
    refs = students or ("stu-1",)
    event = case_reported(*((r, SENDER) for r in refs), protocol=protocol, school_id=school_id)
    return ReportCase(event.model_copy(update={"discovered_at": discovered_at}))


def decide(
    command: ReportCase,
    *,
    school: School | None = QC_SCHOOL,
    agreements: tuple[Agreement, ...] = (AGREEMENT,),
    certification: Certification | None = CERTIFIED,
    now: datetime = NOW,
) -> CaseReported:
    return decide_report(
        command,
        school=school,
        agreements=list(agreements),
        certification=certification,
        now=now,
    )


def test_an_eligible_sexto_report_is_recorded_as_given() -> None:
    command = report("stu-1", "stu-2")
    assert decide(command) == command.report


def test_a_school_absent_from_the_directory_is_refused() -> None:
    with pytest.raises(UnknownSchool) as error:
        decide(report(school_id="school-404"), school=None)
    assert "school-404" in refused(error.value, "unknown-school").detail


def test_a_discovery_in_the_future_is_refused_beyond_the_clock_skew() -> None:
    with pytest.raises(InvalidCommand) as error:
        decide(report(discovered_at=NOW + CLOCK_SKEW + timedelta(seconds=1)))
    assert "future" in refused(error.value, "invalid-command").detail
    # A caller's clock a little ahead is tolerated.
    within = report(discovered_at=NOW + CLOCK_SKEW)
    assert decide(within) == within.report


def test_each_student_appears_once_in_a_report() -> None:
    with pytest.raises(InvalidCommand) as error:
        decide(report("stu-1", "stu-2", "stu-1"))
    assert "distinct" in refused(error.value, "invalid-command").detail


@pytest.mark.parametrize(
    ("agreements", "why"),
    [
        ((), "no agreement at all"),
        ((Agreement("mou-old", date(2020, 1, 1), date(2026, 11, 1)),), "ended the day before"),
        ((Agreement("mou-new", date(2026, 11, 3), None),), "starts the day after"),
    ],
)
def test_sexto_needs_an_agreement_in_force_on_the_discovery_date(
    agreements: tuple[Agreement, ...], why: str
) -> None:
    with pytest.raises(NotEligible) as error:
        decide(report(), agreements=agreements)
    refusal = refused(error.value, "not-eligible-for-sexto")
    assert refusal.extra == {"reason": "no-agreement-in-force"}, why
    assert "spvm" in refusal.detail
    assert "2026-11-02" in refusal.detail


def test_the_agreement_is_judged_on_the_discovery_date_not_today() -> None:
    # In force on the day of the incident, expired since: the case is eligible.
    ended = Agreement("mou-ended", date(2024, 1, 1), START.date())
    command = report()

    assert decide(command, agreements=(ended,), now=datetime(2027, 3, 1, tzinfo=UTC)) == (
        command.report
    )


@pytest.mark.parametrize(
    "certification",
    [
        None,
        Certification("school-999", "architect", date(2025, 1, 10)),
    ],
    ids=["none", "another-school"],
)
def test_sexto_needs_an_intervener_certified_for_the_school(
    certification: Certification | None,
) -> None:
    with pytest.raises(NotEligible) as error:
        decide(report(), certification=certification)
    refusal = refused(error.value, "not-eligible-for-sexto")
    assert refusal.extra == {"reason": "intervener-not-certified"}
    assert "Explorer or Architect" in refusal.detail


@pytest.mark.parametrize(
    "certified_on",
    [START.date() + timedelta(days=1), NOW.date() + timedelta(days=30)],
    ids=["after-the-discovery", "not-yet"],
)
def test_the_certification_must_be_valid_on_the_discovery_date(certified_on: date) -> None:
    late = Certification("school-042", "architect", certified_on)

    with pytest.raises(NotEligible) as error:
        decide(report(), certification=late, now=NOW + timedelta(days=60))

    refusal = refused(error.value, "not-eligible-for-sexto")
    assert refusal.extra == {"reason": "intervener-certified-after-discovery"}
    assert certified_on.isoformat() in refusal.detail
    assert START.date().isoformat() in refusal.detail


def test_a_certification_of_the_discovery_day_itself_is_valid() -> None:
    on_the_day = Certification("school-042", "explorer", START.date())
    command = report()

    assert decide(command, certification=on_the_day) == command.report


@pytest.mark.parametrize(
    ("agreements", "certification"),
    [((), CERTIFIED), ((AGREEMENT,), None),
     ((AGREEMENT,), Certification("school-042", "explorer", NOW.date() + timedelta(days=1)))],
    ids=["no-agreement", "not-certified", "certified-later"],
)  # fmt: skip
def test_a_sexto_refusal_says_what_to_do_instead_and_never_suggests_the_uk_path(
    agreements: tuple[Agreement, ...], certification: Certification | None
) -> None:
    with pytest.raises(NotEligible) as error:
        decide(report(), agreements=agreements, certification=certification)

    english, french = error.value.detail_in("en"), error.value.detail_in("fr")
    assert "911" in english
    assert "school board" in english
    assert "911" in french
    assert "centre de services scolaire" in french
    for text in (english, french):
        assert "uk-dsl" not in text
        assert "UK" not in text
        assert "britannique" not in text


@pytest.mark.parametrize(
    ("school", "protocol", "allowed"),
    [(QC_SCHOOL, Protocol.UK_DSL, "sexto-qc"), (UK_SCHOOL, Protocol.SEXTO_QC, "uk-dsl")],
    ids=["quebec-school-uk-path", "english-school-sexto"],
)
def test_a_school_opens_only_the_protocols_of_its_jurisdiction(
    school: School, protocol: Protocol, allowed: str
) -> None:
    command = report(protocol=protocol, school_id=school.school_id)

    with pytest.raises(ProtocolNotForJurisdiction) as error:
        decide(command, school=school)

    refusal = refused(error.value, "protocol-not-for-jurisdiction")
    assert allowed in refusal.detail
    assert protocol.value in refusal.detail


def test_each_jurisdiction_names_at_least_one_protocol_and_no_protocol_is_shared() -> None:
    assert set(PROTOCOLS) == set(Jurisdiction)
    assert all(PROTOCOLS.values())
    assert sum(len(p) for p in PROTOCOLS.values()) == len(set().union(*PROTOCOLS.values()))


def test_the_agreement_is_checked_before_the_certification() -> None:
    with pytest.raises(NotEligible) as error:
        decide(report(), agreements=(), certification=None)
    assert error.value.extra == {"reason": "no-agreement-in-force"}


@pytest.mark.parametrize("level", ["explorer", "architect"])
def test_either_training_level_certifies(level: str) -> None:
    assert (
        check_sexto(
            territory_id="spvm",
            agreements=[Agreement("mou-a", date(2027, 1, 1), None), AGREEMENT],
            certification=Certification("school-042", level, date(2025, 1, 10)),
            school_id="school-042",
            discovered_on=START.date(),
        )
        == "mou-spvm"
    )


def test_the_uk_path_needs_no_dpcp_agreement_nor_sexto_training() -> None:
    command = report(protocol=Protocol.UK_DSL, school_id="school-uk-1")

    assert decide(command, school=UK_SCHOOL, agreements=(), certification=None) == command.report


def test_the_uk_path_still_checks_the_clock_and_the_students() -> None:
    with pytest.raises(InvalidCommand):
        decide(report("stu-1", "stu-1", protocol=Protocol.UK_DSL), school=UK_SCHOOL)
    with pytest.raises(InvalidCommand):
        decide(
            report(protocol=Protocol.UK_DSL, discovered_at=NOW + timedelta(days=1)),
            school=UK_SCHOOL,
        )


def test_a_report_retried_with_the_same_key_names_the_same_case() -> None:
    first = report_case_id("intervener-7", "key-1")

    assert report_case_id("intervener-7", "key-1") == first
    assert report_case_id("intervener-7", "key-2") != first
    assert report_case_id("intervener-8", "key-1") != first
    assert len(first) == 32


def test_a_student_given_no_ref_gets_a_stable_pseudonymous_one() -> None:
    ref = derived_student_ref("case-1", 0)

    assert derived_student_ref("case-1", 0) == ref
    assert derived_student_ref("case-1", 1) != ref
    assert derived_student_ref("case-2", 0) != ref
    assert ref.startswith("stu-")
    assert student(ref).student_ref == ref  # a valid Ref
