"""Errors of the event log: each says what went wrong and what to do, never personal data."""

from __future__ import annotations


class EventLogError(Exception):
    """Base class of every error raised by the event library."""


class UnknownEventType(EventLogError):
    """An event type that the catalogue does not declare."""

    def __init__(self, type_name: str) -> None:
        super().__init__(
            f"unknown event type {type_name!r}: every event must be declared once in the "
            "catalogue (sexto_events.catalogue) before it can be written or read"
        )
        self.type_name = type_name


class EventSchemaError(EventLogError):
    """Event data that does not match its declared schema."""

    def __init__(self, type_name: str, problems: list[str]) -> None:
        super().__init__(f"data of event {type_name!r} fails its schema: " + "; ".join(problems))
        self.type_name = type_name
        self.problems = problems


class EventTooLarge(EventLogError):
    """An envelope larger than the per-event limit."""

    def __init__(self, type_name: str, size: int, limit: int) -> None:
        super().__init__(
            f"event {type_name!r} is {size} bytes once encoded, over the {limit}-byte limit: "
            "events carry facts in words, split the data or shorten the free text"
        )
        self.size = size
        self.limit = limit


class InvalidCaseRef(EventLogError):
    """A territory or case id that cannot be a NATS subject token."""


class ConcurrencyConflict(EventLogError):
    """The case changed since it was loaded: reload it, decide again and retry."""

    def __init__(self, case: str, expected: int, actual: int | None) -> None:
        found = "unknown" if actual is None else str(actual)
        super().__init__(
            f"case {case} is at version {found}, not the expected {expected}: "
            "another writer appended first; reload the case and decide again"
        )
        self.case = case
        self.expected = expected
        self.actual = actual


class ChainBroken(EventLogError):
    """The hash chain of a case does not verify."""

    def __init__(self, case: str, position: int, reason: str) -> None:
        super().__init__(f"hash chain of case {case} broken at position {position}: {reason}")
        self.case = case
        self.position = position
        self.reason = reason


class StreamMisconfigured(EventLogError):
    """The CASES stream exists with settings that break the log's guarantees."""


class ServerTooOld(EventLogError):
    """The NATS server lacks a feature the event log relies on."""


class AppendFailed(EventLogError):
    """The server refused an append for a reason other than a concurrency conflict."""


class LogUnavailable(EventLogError):
    """The log did not answer in time (no quorum, a leader being elected): the outcome of
    a write is unknown, and retrying it with the same event ids is safe."""


class SubjectErased(EventLogError):
    """Personal data cannot be written for a data subject whose key was shredded."""

    def __init__(self, subject: str) -> None:
        super().__init__(
            f"data subject {subject} was erased (crypto-shredded); no new personal data "
            "may be recorded under it"
        )
        self.subject = subject
