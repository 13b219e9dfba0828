"""The escalation workflow as a state machine over the case's events: pure.

An illegal step is refused with the steps that are allowed next, so a dispatch
integration can tell what to do instead. The milestones other services read (the status
word, what is due before closing, what stays open after) are the shared lifecycle
(sexto_protocols.lifecycle, drawn in docs/lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from sexto_events.catalogue.escalation import (
    EscalationAcknowledged,
    EscalationOverdue,
    EscalationRequested,
    EscalationUrgencyChanged,
    KitCollected,
    MeetingHeld,
    MeetingScheduled,
    ProsecutorConsulted,
    ProsecutorDecided,
    ReferralRecorded,
    SealCheck,
    SupportOffered,
)
from sexto_events.catalogue.intake import CaseReported, DeviceSecured
from sexto_events.envelope import parse_time
from sexto_events.messages import Message
from sexto_events.model import RecordedEvent
from sexto_events.refusals import CaseAlreadyClosed, IllegalStep, UnknownStudent
from sexto_protocols import lifecycle
from sexto_protocols.lifecycle import OPEN_AFTER_CLOSURE, CaseLifecycle, Status
from sexto_protocols.tracks import Track


class Step(StrEnum):
    """What can happen next."""

    ACKNOWLEDGE = "acknowledge"
    COLLECT_KIT = "collect_kit"
    CONSULT_PROSECUTOR = "consult_prosecutor"
    DECIDE = "decide"


@dataclass(frozen=True)
class Escalation:
    """Where a case stands with the police and the prosecutor.

    The milestones every service reads (students' roles, steps taken, referrals, closure)
    are the shared lifecycle (`case`); the rest is what only escalation needs.
    """

    school_id: str = ""
    protocol: str = ""
    reported_by: str = ""
    seals: tuple[str, ...] = ()
    case: CaseLifecycle = field(default_factory=CaseLifecycle)
    urgency: str = ""
    requested_at: datetime | None = None
    # Each time the deadlines were armed: at the request, then at every urgency change.
    arms: tuple[tuple[datetime, str], ...] = ()
    request_event_id: str = ""
    overdue: frozenset[str] = frozenset()  # the steps whose breach is on the record
    indications: dict[str, str] = field(default_factory=dict)
    calls_for_police: bool = False  # what the latest assessment says; the request stands
    referred: frozenset[tuple[str, str | None]] = frozenset()  # (agency, agency name)
    support: frozenset[tuple[str, str]] = frozenset()  # (student, kind) offered

    @property
    def requested(self) -> bool:
        return self.case.requested

    @property
    def acknowledged(self) -> bool:
        return self.case.acknowledged

    @property
    def kit_collected(self) -> bool:
        return self.case.kit_collected

    @property
    def consulted(self) -> bool:
        return self.case.consulted

    @property
    def closed(self) -> bool:
        return self.case.closed

    @property
    def students(self) -> Mapping[str, tuple[str, ...]]:
        return self.case.students

    @property
    def decisions(self) -> Mapping[str, str]:
        return self.case.decisions

    @property
    def meetings_scheduled(self) -> frozenset[str]:
        return self.case.meetings_scheduled

    @property
    def meetings_held(self) -> frozenset[str]:
        return self.case.meetings_held

    @property
    def referrals(self) -> tuple[str, ...]:
        return self.case.referrals

    def allowed(self) -> list[Step]:
        """The steps allowed now (decisions are expected for offender-track students only)."""
        if not self.requested:
            return []
        if not self.acknowledged:
            return [Step.ACKNOWLEDGE]
        if not self.kit_collected:
            return [Step.COLLECT_KIT]
        if not self.consulted:
            return [Step.CONSULT_PROSECUTOR]
        if self.case.undecided():
            return [Step.DECIDE]
        return []

    @property
    def status(self) -> Status:
        """The lifecycle's one status word (sexto_protocols.lifecycle)."""
        return lifecycle.status(self.case)


def evolve(state: Escalation, event: RecordedEvent) -> Escalation:
    """The workflow after one event of the case."""
    data = event.data
    state = replace(state, case=lifecycle.evolve(state.case, data))
    if isinstance(data, CaseReported):
        return replace(
            state,
            school_id=data.school_id,
            reported_by=event.envelope.actor,
            protocol=data.protocol.value,
        )
    if isinstance(data, DeviceSecured) and data.seal_number:
        return replace(state, seals=(*state.seals, data.seal_number))
    if isinstance(data, EscalationRequested):
        at = parse_time(event.envelope.time)
        return replace(
            state,
            urgency=data.urgency,
            requested_at=at,
            arms=((at, data.urgency),),
            request_event_id=event.id,
            indications={s.student_ref: s.indication for s in data.students},
            calls_for_police=True,
        )
    if isinstance(data, EscalationUrgencyChanged):
        return replace(
            state,
            urgency=data.urgency,
            arms=(*state.arms, (parse_time(event.envelope.time), data.urgency)),
            indications={s.student_ref: s.indication for s in data.students},
            calls_for_police=data.calls_for_police,
        )
    if isinstance(data, EscalationOverdue):
        return replace(state, overdue=state.overdue | {data.step})
    if isinstance(data, ReferralRecorded):
        return replace(state, referred=state.referred | {(data.agency, data.agency_name)})
    if isinstance(data, SupportOffered):
        return replace(state, support=state.support | {(data.student_ref, data.kind)})
    return state


class UnknownStudentStep(UnknownStudent, IllegalStep):
    """A step for a student not on the case: an illegal step (it lists the steps allowed),
    answered like every unknown student on a case, in every service (404)."""

    kind = "unknown-student"

    def __init__(self, student_ref: str, allowed: list[str]) -> None:
        IllegalStep.__init__(
            self, Message("decision-unknown-student", student_ref=student_ref), allowed
        )


class NotDecidedTrack(IllegalStep):
    """A decision about a victim- or witness-track student: the prosecutor decides about
    offenders only (409, saying the student's track and who is still to be decided)."""

    kind = "not-an-offender"

    def __init__(self, student_ref: str, track: Track, allowed: list[str]) -> None:
        super().__init__(
            Message("decision-not-for-track", student_ref=student_ref, track=track.value),
            allowed,
        )


class ClosedCaseStep(CaseAlreadyClosed):
    """A step on a case the school closed, which the law does not keep open (409)."""

    def __init__(self, step: str) -> None:
        super().__init__(
            Message("escalation-case-closed", step=Message(f"step-{step}")),
            open_after_closure=sorted(OPEN_AFTER_CLOSURE),
        )


def _open(state: Escalation, step: str) -> None:
    """Refuse a step on a closed case unless the law keeps it open."""
    if state.closed and step not in OPEN_AFTER_CLOSURE:
        raise ClosedCaseStep(step)


def _require(state: Escalation, step: Step) -> None:
    _open(state, step.value)
    allowed = state.allowed()
    if step not in allowed:
        raise IllegalStep(
            Message("step-not-allowed", step=Message(f"step-{step.value}"), status=state.status),
            [s.value for s in allowed],
        )


def acknowledge(state: Escalation, call_reference: str, dispatcher: str) -> EscalationAcknowledged:
    """Police dispatch takes the escalation."""
    _require(state, Step.ACKNOWLEDGE)
    return EscalationAcknowledged(call_reference=call_reference, dispatcher_ref=dispatcher)


def collect_kit(state: Escalation, officer: str, seals: list[SealCheck]) -> KitCollected:
    """The officer's check of each seal against the devices secured at the school."""
    _require(state, Step.COLLECT_KIT)
    handed = [s.seal_number for s in seals]
    missing = sorted(set(state.seals) - set(handed))
    unexpected = sorted(set(handed) - set(state.seals))
    broken = any(not s.intact for s in seals)
    return KitCollected(
        officer_ref=officer,
        seals=seals,
        missing_seals=missing,
        unexpected_seals=unexpected,
        flagged=bool(missing or unexpected or broken),
    )


def consult(state: Escalation, file_reference: str) -> ProsecutorConsulted:
    """The police consult the DPCP."""
    _require(state, Step.CONSULT_PROSECUTOR)
    return ProsecutorConsulted(dpcp_file_reference=file_reference)


FOLLOW_UP = {
    "impulsive": "educational_meeting_required",
    "malicious": "investigation_opened",
    "no_further_action": "none",
}


def _undecided(state: Escalation) -> list[str]:
    return [f"decide for {ref}" for ref in state.case.undecided()]


def decide(state: Escalation, student_ref: str, decision: str, reasons: str) -> ProsecutorDecided:
    """The DPCP's decision for one offender-track student (never a victim or a witness).

    Open after closure: the prosecutor decides independently of the school's file.
    """
    track = state.case.track(student_ref)
    if student_ref in state.students and track is not Track.OFFENDER:
        raise NotDecidedTrack(student_ref, track, _undecided(state))
    _require(state, Step.DECIDE)
    if student_ref not in state.students:
        raise UnknownStudentStep(student_ref, _undecided(state))
    if student_ref in state.decisions:
        raise IllegalStep(
            Message("decision-already-made", student_ref=student_ref), _undecided(state)
        )
    return ProsecutorDecided(
        student_ref=student_ref,
        decision=decision,
        reasons=reasons,
        follow_up=FOLLOW_UP[decision],
    )


def refer(
    state: Escalation, agency: str, reference: str, agency_name: str | None = None
) -> ReferralRecorded:
    """UK path: one of the DSL's referrals (police, children's social care, another agency
    named by `agency_name`), on an escalated UK case; each agency once."""
    _open(state, "refer")
    if not state.requested or state.protocol != "uk-dsl":
        raise IllegalStep(Message("referral-needs-uk-escalation"), [])
    if (agency == "other") != (agency_name is not None):
        raise IllegalStep(Message("referral-agency-name"), [])
    if (agency, agency_name) in state.referred:
        raise IllegalStep(Message("already-referred", agency=agency_name or agency), [])
    return ReferralRecorded(agency=agency, agency_name=agency_name, reference=reference)


def meetings_due(state: Escalation) -> list[str]:
    """Who may be met: students decided impulsive (the educational meeting) and, once the
    case is escalated, victim-track students (the protocol meets the depicted student too)."""
    impulsive = [ref for ref, d in state.decisions.items() if d == "impulsive"]
    victims = [r for r in state.students if state.requested and state.case.track(r) is Track.VICTIM]
    return [*impulsive, *victims]


def _may_meet(state: Escalation, student_ref: str) -> None:
    _open(state, "meeting")
    if student_ref not in meetings_due(state):
        raise IllegalStep(
            Message("meeting-needs-impulsive", student_ref=student_ref),
            [f"meeting for {ref}" for ref in meetings_due(state)],
        )


def schedule_meeting(state: Escalation, student_ref: str, at: datetime) -> MeetingScheduled:
    """Schedule a meeting: educational (decided impulsive) or the victim's."""
    _may_meet(state, student_ref)
    return MeetingScheduled(student_ref=student_ref, at=at)


def meeting_held(state: Escalation, student_ref: str, attended: list[str]) -> MeetingHeld:
    """Record the meeting; it must have been scheduled, and held once."""
    _may_meet(state, student_ref)
    if student_ref not in state.meetings_scheduled:
        raise IllegalStep(
            Message("meeting-not-scheduled", student_ref=student_ref), ["schedule the meeting"]
        )
    if student_ref in state.meetings_held:
        raise IllegalStep(Message("meeting-already-held", student_ref=student_ref), [])
    return MeetingHeld(student_ref=student_ref, attended=attended)


def offer_support(state: Escalation, student_ref: str, kind: str, reference: str) -> SupportOffered:
    """Support offered to a student of the case, by reference only, escalated or not (a
    victim of a case the school manages is offered support too).

    Any track: a student both depicted and sender is on the offender track and still needs
    image-removal help. Each kind once per student. Open after closure (a victim's right to
    support does not end with the school's file).
    """
    _open(state, "offer_support")
    if student_ref not in state.students:
        raise UnknownStudentStep(student_ref, [f"support for {ref}" for ref in state.students])
    if (student_ref, kind) in state.support:
        raise IllegalStep(
            Message("support-already-offered", student_ref=student_ref, kind=kind), []
        )
    return SupportOffered(student_ref=student_ref, kind=kind, reference=reference)
