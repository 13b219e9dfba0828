"""Legal holds, erasure by crypto-shredding, and retention: what the command line calls.

Each has a module of its own; this one gathers their public names in one place:

- `holds` — placing and releasing a legal hold, and whether one stands;
- `shredding` — erasing one data subject of a case (deleting its key), on the record;
- `retention` — the retention periods and the run that erases the cases that are due;
- `erasure_records` — the erasures on a case's record, and which its chain vouches for;
- `data_subjects` — the subject keys that seal a case's personal data;
- `stored_case` — a case read as stored, without verification, for all of the above.
"""

from __future__ import annotations

from sexto_legal.data_subjects import sealed_subjects
from sexto_legal.holds import HoldMismatch, set_legal_hold
from sexto_legal.retention import RetentionDecision, RetentionSettings, retention_run
from sexto_legal.shredding import (
    CaseStillOpen,
    ShredOutcome,
    UnderLegalHold,
    UnknownSubject,
    shred_subject,
)

__all__ = [
    "CaseStillOpen",
    "HoldMismatch",
    "RetentionDecision",
    "RetentionSettings",
    "ShredOutcome",
    "UnderLegalHold",
    "UnknownSubject",
    "retention_run",
    "sealed_subjects",
    "set_legal_hold",
    "shred_subject",
]
