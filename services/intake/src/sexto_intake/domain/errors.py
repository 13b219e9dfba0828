"""Intake's refusals: each names the problem type, says what is wrong and what to do."""

from __future__ import annotations

from sexto_events.refusals import (
    CaseAlreadyClosed,
    CaseNotFound,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    Invalid,
    UnknownStudent,
)

__all__ = [
    "AlreadyRegistered",
    "CaseAlreadyClosed",
    "CaseNotFound",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidCommand",
    "InvalidDirectoryEntry",
    "NotEligible",
    "ProtocolNotForJurisdiction",
    "UnknownSchool",
    "UnknownStep",
    "UnknownStudent",
    "UnknownTerritory",
]


class NotEligible(Invalid):
    """The case cannot enter the SEXTO path."""

    kind = "not-eligible-for-sexto"


class ProtocolNotForJurisdiction(Invalid):
    """A protocol of another jurisdiction than the school's."""

    kind = "protocol-not-for-jurisdiction"


class UnknownTerritory(Invalid):
    """A territory absent from the directory."""

    kind = "unknown-territory"


class InvalidDirectoryEntry(Invalid):
    """A directory entry whose facts contradict each other."""

    kind = "invalid-directory-entry"


class UnknownSchool(Invalid):
    """A school absent from the directory."""

    kind = "unknown-school"


class InvalidCommand(Invalid):
    """A command whose facts contradict each other or the clock."""

    kind = "invalid-command"


class UnknownStep(Invalid):
    """A checklist step absent from the case's protocol version."""

    kind = "unknown-checklist-step"


class AlreadyRegistered(Conflict):
    """A directory entry that exists already."""

    kind = "already-registered"
