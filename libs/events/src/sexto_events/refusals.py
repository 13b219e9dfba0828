"""Refusals: the one error base of every service's rules, by kind of situation.

A domain function raises a refusal when a command may not be carried out; nothing is
recorded then. Each class says *which situation* it is (not found, forbidden, invalid,
conflict, illegal step, unavailable); the HTTP edge maps each situation to one status, the
same in every service. A subclass names its problem type with `kind` (a stable slug). The
detail says what to fix, in words — never personal data, never a class name: a `Message`
of the catalogue (sexto_events.messages), which the edge renders in English or French.
"""

from __future__ import annotations

from typing import ClassVar

from sexto_events.messages import Message


class Refusal(Exception):
    """A command refused; `kind` is the problem type, `extra` goes into the answer.

    `detail` is a catalogue `Message` (answered in the caller's language) or, for texts not
    yet in the catalogue, an English sentence.
    """

    kind: ClassVar[str] = "invalid-request"

    def __init__(self, detail: str | Message, **extra: object) -> None:
        super().__init__(str(detail))
        self.message = detail if isinstance(detail, Message) else None
        self.detail = str(detail)
        self.extra = extra

    def detail_in(self, language: str) -> str:
        """The detail in `language` when the catalogue has it, else in English."""
        return self.message.text(language) if self.message is not None else self.detail


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

    def __init__(self, detail: str | Message, allowed: list[str]) -> None:
        super().__init__(detail, allowed=allowed)
        self.allowed = allowed


class IdempotencyKeyReused(Invalid):
    """The same Idempotency-Key sent with a different request."""

    kind = "idempotency-key-reused"


class RequestInProgress(Conflict):
    """A request with the same Idempotency-Key is still being carried out."""

    kind = "request-in-progress"


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
