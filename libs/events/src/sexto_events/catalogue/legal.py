"""Events of the legal context: holds, erasures. Codes and pseudonymous ids only, never text.

A reason is a code from a closed list, and a reference (a court file, a request number)
is an id: free text here would be personal data in plaintext that no shredding reaches.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from sexto_events.catalogue.base import EventData, Ref
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, class_marker, classed

FileRef = Annotated[Ref, Field(json_schema_extra=class_marker(DataClass.LEGAL, "file"))]
"""A court, inquiry or request file's id."""


class HoldReason(StrEnum):
    """Why a case must be kept whatever its retention says."""

    LITIGATION = "litigation"
    COMPLAINT = "complaint"
    INQUIRY = "inquiry"
    COURT_ORDER = "court_order"
    POLICE_INVESTIGATION = "police_investigation"


class ErasureReason(StrEnum):
    """Why personal data was erased."""

    ERASURE_REQUEST = "erasure_request"
    RETENTION_EXPIRED = "retention_expired"
    COURT_ORDER = "court_order"
    DATA_MINIMISATION = "data_minimisation"


@CATALOGUE.declare("legal", "hold_placed", 1)
class LegalHoldPlaced(EventData):
    """The case is under legal hold: no erasure until the hold is released."""

    reason: HoldReason = classed(DataClass.LEGAL)
    reference: FileRef | None = Field(default=None, description="e.g. the court or inquiry file id")


@CATALOGUE.declare("legal", "hold_released", 1)
class LegalHoldReleased(EventData):
    """The legal hold on the case was lifted."""

    reason: HoldReason = classed(DataClass.LEGAL)
    reference: FileRef | None = None


@CATALOGUE.declare("legal", "subject_shredded", 1)
class SubjectShredded(EventData):
    """A data subject's key was deleted: their personal data in this case reads as erased."""

    subject_key: str = classed(
        DataClass.REFERENCE,
        "subject_key",
        pattern=r"^[a-z_]{1,32}:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_-]{1,64})?$",
        description="the key id shredded (pseudonymous: kind, case id, ref)",
    )
    reason: ErasureReason = classed(DataClass.LEGAL)
    reference: FileRef | None = None
    key_existed: bool = classed(
        DataClass.RECORD, description="false when the key was already gone (a re-run)"
    )


@CATALOGUE.declare("legal", "case_erased", 1)
class CaseErased(EventData):
    """Retention ended: data subjects of the case were shredded (listed by key id).

    A case with more subjects than one record lists has them over several records appended
    together; a subject whose data was sealed after the erasure gets a record of its own.
    """

    reason: ErasureReason = classed(DataClass.LEGAL)
    protocol: str = classed(DataClass.JURISDICTION, pattern=r"^[a-z0-9-]{1,32}$")
    closed_at: datetime = classed(
        DataClass.OUTCOME, description="the closure the retention counted from"
    )
    retention_years: int = classed(DataClass.RECORD, ge=0, le=100)
    subject_keys: list[str] = classed(DataClass.REFERENCE, "subject_key", max_length=200)
