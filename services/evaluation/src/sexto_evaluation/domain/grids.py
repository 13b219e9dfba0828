"""Which grids a fact opens: one per reported student, one more for a student added. Pure."""

from __future__ import annotations

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.evaluation import GridsOpened
from sexto_events.catalogue.intake import CaseReported, StudentAdded


def grids_opened(fact: EventData) -> GridsOpened | None:
    """The grids a fact of the case opens, or None if it opens none."""
    if isinstance(fact, CaseReported):
        return GridsOpened(student_refs=[s.student_ref for s in fact.students])
    if isinstance(fact, StudentAdded):
        return GridsOpened(student_refs=[fact.student.student_ref])
    return None
