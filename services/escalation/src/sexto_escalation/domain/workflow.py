"""The escalation workflow as a state machine over the case's events: pure.

An illegal step is refused with the steps that are allowed next, so a dispatch
integration can tell what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import (
    EscalationAcknowledged,
    EscalationOverdue,
    EscalationRequested,
    KitCollected,
    MeetingHeld,
    MeetingScheduled,
    ProsecutorConsulted,
    ProsecutorDecided,
    ReferralRecorded,
    SealCheck,
)
from sexto_events.catalogue.intake import CaseReported, DeviceSecured, StudentAdded
from sexto_events.envelope import parse_time
from sexto_events.messages import Message
from sexto_events.model import RecordedEvent
from sexto_events.refusals import IllegalStep, UnknownStudent


class Step(StrEnum):
    """What can happen next."""

    ACKNOWLEDGE = "acknowledge"
    COLLECT_KIT = "collect_kit"
    CONSULT_PROSECUTOR = "consult_prosecutor"
    DECIDE = "decide"


@dataclass(frozen=True)
class Escalation:
    """Where a case stands with the police and the prosecutor."""

    school_id: str = ""
    protocol: str = ""
    reported_by: str = ""
    students: dict[str, str] = field(default_factory=dict)
    seals: tuple[str, ...] = ()
    requested: bool = False
    acknowledged: bool = False
    kit_collected: bool = False
    consulted: bool = False
    decisions: dict[str, str] = field(default_factory=dict)
    referral: str | None = None
    meetings_scheduled: frozenset[str] = frozenset()
    meetings_held: frozenset[str] = frozenset()
    urgency: str = ""
    requested_at: datetime | None = None
    request_event_id: str = ""
    overdue: frozenset[str] = frozenset()  # the steps whose breach is on the record

    def allowed(self) -> list[Step]:
        """The steps allowed now."""
        if not self.requested:
            return []
        if not self.acknowledged:
            return [Step.ACKNOWLEDGE]
        if not self.kit_collected:
            return [Step.COLLECT_KIT]
        if not self.consulted:
            return [Step.CONSULT_PROSECUTOR]
        if set(self.students) - set(self.decisions):
            return [Step.DECIDE]
        return []

    @property
    def status(self) -> str:
        """A label for queues: the last step reached."""
        if self.decisions and not set(self.students) - set(self.decisions):
            return "decided"
        for done, label in (
            (self.consulted, "prosecutor_consulted"),
            (self.kit_collected, "kit_collected"),
            (self.acknowledged, "acknowledged"),
            (self.requested, "requested"),
        ):
            if done:
                return label
        return "none"


def evolve(state: Escalation, event: RecordedEvent) -> Escalation:
    """The workflow after one event of the case."""
    data = event.data
    if isinstance(data, CaseReported):
        return replace(
            state,
            school_id=data.school_id,
            reported_by=event.envelope.actor,
            protocol=data.protocol.value,
            students={s.student_ref: "+".join(r.value for r in s.roles) for s in data.students},
        )
    if isinstance(data, StudentAdded):
        return replace(
            state,
            students={
                **state.students,
                data.student.student_ref: "+".join(r.value for r in data.student.roles),
            },
        )
    if isinstance(data, DeviceSecured) and data.seal_number:
        return replace(state, seals=(*state.seals, data.seal_number))
    if isinstance(data, EscalationRequested):
        return replace(
            state,
            requested=True,
            urgency=data.urgency,
            requested_at=parse_time(event.envelope.time),
            request_event_id=event.id,
        )
    if isinstance(data, EscalationOverdue):
        return replace(state, overdue=state.overdue | {data.step})
    if isinstance(data, EscalationAcknowledged):
        return replace(state, acknowledged=True)
    if isinstance(data, KitCollected):
        return replace(state, kit_collected=True)
    if isinstance(data, ProsecutorConsulted):
        return replace(state, consulted=True)
    if isinstance(data, ProsecutorDecided):
        return replace(state, decisions={**state.decisions, data.student_ref: data.decision})
    if isinstance(data, ReferralRecorded):
        return replace(state, referral=data.agency)
    if isinstance(data, MeetingScheduled):
        return replace(state, meetings_scheduled=state.meetings_scheduled | {data.student_ref})
    if isinstance(data, MeetingHeld):
        return replace(state, meetings_held=state.meetings_held | {data.student_ref})
    return state


# The queue's word for where an escalation stands after each step event.
QUEUE_STATUS: dict[type[EventData], str] = {
    EscalationAcknowledged: "acknowledged",
    KitCollected: "kit_collected",
    ProsecutorConsulted: "prosecutor_consulted",
    ProsecutorDecided: "decision_recorded",
}


def queue_status(data: EventData) -> str | None:
    """The queue status a step event moves the escalation to; None for other events."""
    return QUEUE_STATUS.get(type(data))


class UnknownStudentStep(UnknownStudent, IllegalStep):
    """A step for a student not on the case: an illegal step (it lists the steps allowed),
    answered like every unknown student on a case, in every service (404)."""

    kind = "unknown-student"

    def __init__(self, student_ref: str, allowed: list[str]) -> None:
        IllegalStep.__init__(
            self, Message("decision-unknown-student", student_ref=student_ref), allowed
        )


def _require(state: Escalation, step: Step) -> None:
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


def decide(state: Escalation, student_ref: str, decision: str, reasons: str) -> ProsecutorDecided:
    """The DPCP's decision for one student."""
    _require(state, Step.DECIDE)
    if student_ref not in state.students:
        raise UnknownStudentStep(
            student_ref,
            [f"decide for {ref}" for ref in state.students if ref not in state.decisions],
        )
    if student_ref in state.decisions:
        raise IllegalStep(
            Message("decision-already-made", student_ref=student_ref),
            [f"decide for {ref}" for ref in state.students if ref not in state.decisions],
        )
    return ProsecutorDecided(
        student_ref=student_ref,
        decision=decision,
        reasons=reasons,
        follow_up=FOLLOW_UP[decision],
    )


def refer(state: Escalation, agency: str, reference: str) -> ReferralRecorded:
    """UK path: the DSL's referral, once, on an escalated UK case."""
    if not state.requested or state.protocol != "uk-dsl":
        raise IllegalStep(Message("referral-needs-uk-escalation"), [])
    if state.referral is not None:
        raise IllegalStep(Message("already-referred", agency=state.referral), [])
    return ReferralRecorded(agency=agency, reference=reference)


def _impulsive(state: Escalation, student_ref: str) -> None:
    if state.decisions.get(student_ref) != "impulsive":
        raise IllegalStep(
            Message("meeting-needs-impulsive", student_ref=student_ref),
            [f"meeting for {ref}" for ref, d in state.decisions.items() if d == "impulsive"],
        )


def schedule_meeting(state: Escalation, student_ref: str, at: datetime) -> MeetingScheduled:
    """Schedule the educational meeting for a student decided impulsive."""
    _impulsive(state, student_ref)
    return MeetingScheduled(student_ref=student_ref, at=at)


def meeting_held(state: Escalation, student_ref: str, attended: list[str]) -> MeetingHeld:
    """Record the meeting; it must have been scheduled, and held once."""
    _impulsive(state, student_ref)
    if student_ref not in state.meetings_scheduled:
        raise IllegalStep(
            Message("meeting-not-scheduled", student_ref=student_ref), ["schedule the meeting"]
        )
    if student_ref in state.meetings_held:
        raise IllegalStep(Message("meeting-already-held", student_ref=student_ref), [])
    return MeetingHeld(student_ref=student_ref, attended=attended)
