"""Invented facts for tests (no real person's name anywhere)."""

from __future__ import annotations

from datetime import UTC, datetime

from sexto_events.catalogue.intake import (
    CaseReported,
    DiscoveryChannel,
    NoteAdded,
    Protocol,
    StudentInvolved,
    StudentRole,
)
from sexto_events.model import NewEvent

INVENTED_NAME = "Zephyrine Quillfeather"
INVENTED_SUMMARY = "Zephyrine Quillfeather says a photo was passed around in the gym class"


def reported(name: str = INVENTED_NAME, student_ref: str = "stu-1") -> NewEvent:
    """A SEXTO case report with one student."""
    return NewEvent(
        CaseReported(
            protocol=Protocol.SEXTO_QC,
            school_id="school-042",
            discovered_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
            discovery_channel=DiscoveryChannel.STUDENT_DISCLOSURE,
            summary=INVENTED_SUMMARY,
            students=[
                StudentInvolved(
                    student_ref=student_ref, roles=[StudentRole.DEPICTED], age=14, name=name
                )
            ],
        ),
        actor="intervener-7",
        actor_role="intervener",
    )


def note(text: str = "met the student with a parent", event_id: str | None = None) -> NewEvent:
    """A note (sealed free text)."""
    return NewEvent(
        NoteAdded(text=text), actor="intervener-7", actor_role="intervener", event_id=event_id
    )
