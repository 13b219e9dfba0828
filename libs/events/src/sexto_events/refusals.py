"""Refusals: the one error base of every service's rules, by kind of situation.

A domain function raises a refusal when a command may not be carried out; nothing is
recorded then. Each class says *which situation* it is (not found, forbidden, invalid,
conflict, illegal step, unavailable); the HTTP edge maps each situation to one status, the
same in every service. A subclass names its problem type with `kind` (a stable slug). The
detail says what to fix, in words — never personal data, never a class name.
"""

from __future__ import annotations

from typing import ClassVar


class Refusal(Exception):
    """A command refused; `kind` is the problem type, `extra` goes into the answer."""

    kind: ClassVar[str] = "invalid-request"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(Refusal):
    """Nothing with this id in the caller's scope (indistinguishable from a missing one)."""

    kind = "not-found"


class Forbidden(Refusal):
    """The caller's role or scope may not do this at all."""

    kind = "forbidden"


class Invalid(Refusal):
    """Well-formed, but the facts given cannot be accepted as they are."""

    kind = "invalid-request"


class Conflict(Refusal):
    """The command contradicts what is on the record."""

    kind = "conflict"


class IllegalStep(Conflict):
    """A step the case's state machine does not allow now; `allowed` lists what is."""

    kind = "illegal-step"

    def __init__(self, detail: str, allowed: list[str]) -> None:
        super().__init__(detail, allowed=allowed)
        self.allowed = allowed


class IdempotencyKeyReused(Invalid):
    """The same Idempotency-Key sent with a different request."""

    kind = "idempotency-key-reused"


class Unavailable(Refusal):
    """A component this command needs did not answer; retry."""

    kind = "unavailable"


class CaseNotFound(NotFound):
    """No such case in the caller's scope."""

    kind = "case-not-found"


class UnknownStudent(NotFound):
    """No student with this reference on the case."""

    kind = "unknown-student"


class CaseAlreadyClosed(Conflict):
    """The case is closed: nothing more is recorded on it."""

    kind = "case-closed"
