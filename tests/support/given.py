"""Given events for pure domain tests: recorded events built in memory.

No server, no chain, no sealing: a domain rule reads `event.data` and a few envelope
attributes (the protocol version, the actor, the id), so that is all these builders fill.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.intake import (
    CaseReported,
    DiscoveryChannel,
    Protocol,
    StudentInvolved,
    StudentRole,
)
from sexto_events.commands import Evolve, fold
from sexto_events.envelope import Envelope, format_time
from sexto_events.model import RecordedEvent

S = TypeVar("S")

ACTOR = "intervener-7"
SCHOOL = "school-042"
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def recorded(
    data: EventData,
    *,
    seq: int = 1,
    protocol_version: str | None = None,
    actor: str = ACTOR,
    actor_role: str = "intervener",
) -> RecordedEvent:
    """One event as the store would read it back, at stream sequence `seq`."""
    event_id = f"evt-{seq}"
    envelope = Envelope(
        id=event_id,
        source="sexto/tests",
        type=data.type_name(),
        subject="case-1",
        time=format_time(START + timedelta(minutes=seq)),
        data=data.model_dump(mode="json"),
        territory="spvm",
        actor=actor,
        actorrole=actor_role,
        correlationid=event_id,
        causationid=event_id,
        protocolversion=protocol_version,
    )
    return RecordedEvent(seq, envelope, data, data.type_name())


def given(
    *datas: EventData,
    protocol_version: str | None = None,
    actor: str = ACTOR,
    actor_role: str = "intervener",
) -> list[RecordedEvent]:
    """A case's events in order: sequences 1, 2, 3…, ids evt-1, evt-2, evt-3…"""
    return [
        recorded(
            data, seq=seq, protocol_version=protocol_version, actor=actor, actor_role=actor_role
        )
        for seq, data in enumerate(datas, start=1)
    ]


def state_of(
    initial: S,
    evolve: Evolve[S],
    *datas: EventData,
    protocol_version: str | None = None,
    actor: str = ACTOR,
) -> S:
    """The state a service's `evolve` rebuilds from these events."""
    return fold(initial, evolve, given(*datas, protocol_version=protocol_version, actor=actor))


def case_reported(
    *students: tuple[str, StudentRole],
    protocol: Protocol = Protocol.SEXTO_QC,
    school_id: str = SCHOOL,
) -> CaseReported:
    """A report naming these (ref, role) students; invented facts only."""
    return CaseReported(
        protocol=protocol,
        school_id=school_id,
        discovered_at=START,
        discovery_channel=DiscoveryChannel.STUDENT_DISCLOSURE,
        summary="a photo was passed around after the gym class",
        students=[student(ref, role) for ref, role in students],
    )


def student(ref: str, role: StudentRole = StudentRole.SENDER) -> StudentInvolved:
    """A student involved, with an invented name."""
    return StudentInvolved(student_ref=ref, roles=[role], age=14, name=f"Invented {ref}")
