"""One case's lifecycle across the four services, written down once: pure.

A case's state is the sum of what the services recorded about it (DOMAIN.md, "One case,
four services"). This module folds the events that move the lifecycle into one small value,
and answers from it the three questions several services ask:

- the escalation's status, in the one vocabulary of the queue, the case and the docs
  (`Status`);
- what is still due before the school may close the case (`pending`), asked by intake
  when it closes and by escalation when it shows the case;
- which steps stay open after closure (`OPEN_AFTER_CLOSURE`).

docs/lifecycle.md draws the same machine; a test checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.escalation import (
    EscalationAcknowledged,
    EscalationRequested,
    KitCollected,
    MeetingHeld,
    MeetingScheduled,
    ProsecutorConsulted,
    ProsecutorDecided,
    ReferralRecorded,
)
from sexto_events.catalogue.evaluation import AssessmentMade, GridsOpened, GridSubmitted
from sexto_events.catalogue.intake import (
    CaseClosed,
    CaseReported,
    StudentAdded,
    StudentRoleChanged,
)

from sexto_protocols.tracks import Track, track_of


class Status(StrEnum):
    """Where a case stands with the police and the prosecutor: the queue's, the case's and
    the docs' one word for it."""

    NONE = "none"  # never escalated
    REQUESTED = "requested"
    ACKNOWLEDGED = "acknowledged"
    KIT_COLLECTED = "kit_collected"
    PROSECUTOR_CONSULTED = "prosecutor_consulted"  # decisions still expected
    DECIDED = "decided"  # every offender-track student decided
    CLOSED = "closed"  # the school closed the case (it leaves the active queue)


class Due(StrEnum):
    """What may still be due on an escalated case: the words of a closure refusal."""

    ACKNOWLEDGE = "acknowledge"
    COLLECT_KIT = "collect_kit"
    CONSULT_PROSECUTOR = "consult_prosecutor"
    DECIDE = "decide"
    HOLD_MEETING = "hold_meeting"
    REFER = "refer"
    GRID = "grid"  # a student's grid still open (missing, or a draft): "grid:stu-1"
    REQUEST = "escalation_request"  # an assessment calls the police; not yet requested


# Steps the law keeps open after the school closed its case; every other escalation step
# is refused on a closed case (409 case-closed). The DPCP decides independently of the
# school's file, and a criminal investigation runs on its own time: their decisions and
# follow-up are recorded whenever they come. A victim's right to support (victim
# assistance, image removal) does not end with the school's file either.
OPEN_AFTER_CLOSURE = frozenset({"decide", "offer_support"})

SEXTO = "sexto-qc"
UK_DSL = "uk-dsl"

# The protocols' recommendations that hand the case to the police.
CALLS_FOR_POLICE = frozenset({"police_referral", "escalate_to_police_or_social_care"})


@dataclass(frozen=True)
class CaseLifecycle:
    """What the lifecycle rules read of a case: its students' roles, the escalation's
    milestones, the referrals, and whether the school closed it."""

    protocol: str = ""
    students: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    requested: bool = False
    acknowledged: bool = False
    kit_collected: bool = False
    consulted: bool = False
    decisions: Mapping[str, str] = field(default_factory=dict)
    meetings_scheduled: frozenset[str] = frozenset()
    meetings_held: frozenset[str] = frozenset()
    referrals: tuple[str, ...] = ()
    closed: bool = False
    # The evaluation's side: grids opened and not yet complete, and the latest assessment
    # (the tracks it gave, whether it calls the police).
    open_grids: frozenset[str] = frozenset()
    assessed_tracks: Mapping[str, str] = field(default_factory=dict)
    calls_for_police: bool = False

    def track(self, student_ref: str) -> Track:
        """The track of a student of the case: as the latest assessment gave it (roles and
        the grid's involvement), else from their roles."""
        assessed = self.assessed_tracks.get(student_ref)
        if assessed is not None:
            return Track(assessed)
        return track_of(self.students.get(student_ref, ()))

    def decisions_expected(self) -> list[str]:
        """The students the prosecutor decides about: the offender track, exactly."""
        return [ref for ref in self.students if self.track(ref) is Track.OFFENDER]

    def undecided(self) -> list[str]:
        """Offender-track students still waiting for the prosecutor's decision."""
        return [ref for ref in self.decisions_expected() if ref not in self.decisions]

    def to_json(self) -> dict[str, Any]:
        """A JSON value of the lifecycle (for a read model to keep between events)."""
        return {
            "protocol": self.protocol,
            "students": {ref: list(roles) for ref, roles in self.students.items()},
            "requested": self.requested,
            "acknowledged": self.acknowledged,
            "kit_collected": self.kit_collected,
            "consulted": self.consulted,
            "decisions": dict(self.decisions),
            "meetings_scheduled": sorted(self.meetings_scheduled),
            "meetings_held": sorted(self.meetings_held),
            "referrals": list(self.referrals),
            "closed": self.closed,
            "open_grids": sorted(self.open_grids),
            "assessed_tracks": dict(self.assessed_tracks),
            "calls_for_police": self.calls_for_police,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CaseLifecycle:
        """The lifecycle `to_json` wrote."""
        return cls(
            protocol=value["protocol"],
            students={ref: tuple(roles) for ref, roles in value["students"].items()},
            requested=value["requested"],
            acknowledged=value["acknowledged"],
            kit_collected=value["kit_collected"],
            consulted=value["consulted"],
            decisions=dict(value["decisions"]),
            meetings_scheduled=frozenset(value["meetings_scheduled"]),
            meetings_held=frozenset(value["meetings_held"]),
            referrals=tuple(value["referrals"]),
            closed=value["closed"],
            # Absent from a value kept before the lifecycle followed the evaluation.
            open_grids=frozenset(value.get("open_grids", ())),
            assessed_tracks=dict(value.get("assessed_tracks", {})),
            calls_for_police=bool(value.get("calls_for_police", False)),
        )


# The events `evolve` follows; every other event leaves the lifecycle as it is.
FOLLOWED = (
    CaseReported, StudentAdded, StudentRoleChanged, EscalationRequested, EscalationAcknowledged,
    KitCollected, ProsecutorConsulted, ProsecutorDecided, MeetingScheduled, MeetingHeld,
    ReferralRecorded, CaseClosed, GridsOpened, GridSubmitted, AssessmentMade,
)  # fmt: skip


def follows(data: EventData) -> bool:
    """Whether an event can move the lifecycle (a read model folds only those)."""
    return isinstance(data, FOLLOWED)


def evolve(state: CaseLifecycle, data: EventData) -> CaseLifecycle:
    """The lifecycle after one event of the case (events it does not follow change nothing)."""
    if isinstance(data, CaseReported):
        students = {s.student_ref: tuple(r.value for r in s.roles) for s in data.students}
        return replace(state, protocol=data.protocol.value, students=students)
    if isinstance(data, StudentAdded):
        roles = tuple(r.value for r in data.student.roles)
        return replace(state, students={**state.students, data.student.student_ref: roles})
    if isinstance(data, StudentRoleChanged):
        roles = tuple(r.value for r in data.roles)
        return replace(state, students={**state.students, data.student_ref: roles})
    if isinstance(data, EscalationRequested):
        return replace(state, requested=True)
    if isinstance(data, EscalationAcknowledged):
        return replace(state, acknowledged=True)
    if isinstance(data, KitCollected):
        return replace(state, kit_collected=True)
    if isinstance(data, ProsecutorConsulted):
        return replace(state, consulted=True)
    if isinstance(data, ProsecutorDecided):
        return replace(state, decisions={**state.decisions, data.student_ref: data.decision})
    if isinstance(data, MeetingScheduled):
        return replace(state, meetings_scheduled=state.meetings_scheduled | {data.student_ref})
    if isinstance(data, MeetingHeld):
        return replace(state, meetings_held=state.meetings_held | {data.student_ref})
    if isinstance(data, ReferralRecorded):
        return replace(state, referrals=(*state.referrals, data.agency))
    if isinstance(data, CaseClosed):
        return replace(state, closed=True)
    if isinstance(data, GridsOpened):
        return replace(state, open_grids=state.open_grids | set(data.student_refs))
    if isinstance(data, GridSubmitted):  # a complete grid (a draft keeps it open)
        return replace(state, open_grids=state.open_grids - {data.student_ref})
    if isinstance(data, AssessmentMade):
        tracks = {s.student_ref: s.track for s in data.students if s.track is not None}
        return replace(
            state,
            assessed_tracks=tracks,
            calls_for_police=data.recommendation in CALLS_FOR_POLICE,
        )
    # An urgency change moves no milestone: it re-orders the queue and re-arms deadlines.
    return state


def status(state: CaseLifecycle) -> Status:
    """The one status word: closed, else the last milestone the escalation reached."""
    if state.closed:
        return Status.CLOSED
    if not state.requested:
        return Status.NONE
    if state.consulted:
        return Status.PROSECUTOR_CONSULTED if state.undecided() else Status.DECIDED
    if state.kit_collected:
        return Status.KIT_COLLECTED
    if state.acknowledged:
        return Status.ACKNOWLEDGED
    return Status.REQUESTED


def pending(state: CaseLifecycle) -> list[str]:
    """What is still due before the school may close the case, in words of `Due` (one entry
    per student where a step is per student: "decide:stu-1").

    Nothing is due on a case never escalated. On the UK path the DSL's referral is what the
    escalation owes (at least one: police, children's social care or another agency); on
    the SEXTO path the police's steps, the prosecutor's decision for every offender-track
    student, and the educational meeting held for every student decided impulsive.
    """
    grids = [f"{Due.GRID.value}:{ref}" for ref in sorted(state.open_grids)]
    if not state.requested:
        # An assessment that calls the police is followed by the request: until it is on
        # the record, closing would leave the police untold.
        return grids + ([Due.REQUEST.value] if state.calls_for_police else [])
    if state.protocol == UK_DSL:
        return grids + ([] if state.referrals else [Due.REFER.value])
    due = grids + [
        step.value
        for done, step in (
            (state.acknowledged, Due.ACKNOWLEDGE),
            (state.kit_collected, Due.COLLECT_KIT),
            (state.consulted, Due.CONSULT_PROSECUTOR),
        )
        if not done
    ]
    due += [f"{Due.DECIDE.value}:{ref}" for ref in state.undecided()]
    due += [
        f"{Due.HOLD_MEETING.value}:{ref}"
        for ref, decision in state.decisions.items()
        if decision == "impulsive" and ref not in state.meetings_held
    ]
    return due


def fold(events: list[EventData]) -> CaseLifecycle:
    """The lifecycle of a case from its events, in order."""
    state = CaseLifecycle()
    for data in events:
        state = evolve(state, data)
    return state
