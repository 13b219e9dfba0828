"""Domain errors: each names the problem type, says what is wrong and what to do."""

from __future__ import annotations


class DomainError(Exception):
    """A refused command; `kind` is the stable problem type, `status` its HTTP status."""

    kind = "invalid-command"
    status = 422

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotEligible(DomainError):
    """The case cannot enter the SEXTO path."""

    kind = "not-eligible-for-sexto"


class UnknownSchool(DomainError):
    """A school absent from the directory."""

    kind = "unknown-school"


class InvalidCommand(DomainError):
    """A command whose facts contradict each other or the clock."""


class AlreadyRegistered(DomainError):
    """A directory entry that exists already."""

    kind = "already-registered"
    status = 409


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key sent with a different request."""

    kind = "idempotency-key-reused"


class CaseNotFound(DomainError):
    """No such case in the caller's scope (indistinguishable from a missing one)."""

    kind = "case-not-found"
    status = 404
