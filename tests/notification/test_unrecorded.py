"""A delivery whose attempt could not be recorded: failed outright only when the case's
record cannot be read; the log not answering in time is tried again (make chaos found
deliveries failed for good, and every later delivery of their cases held behind them,
after a NATS node was killed)."""

from __future__ import annotations

from sexto_events.errors import (
    AppendFailed,
    ChainBroken,
    EventLogError,
    LogUnavailable,
)
from sexto_notification.reactors.sender import unreadable


def test_the_log_not_answering_in_time_is_tried_again() -> None:
    assert unreadable(LogUnavailable("no acknowledgement after 3 tries")) is False
    assert unreadable(TimeoutError()) is False
    assert unreadable(ConnectionError()) is False


def test_a_record_that_cannot_be_read_fails_the_delivery() -> None:
    assert unreadable(ChainBroken("spvm.c1", 3, "hash mismatch")) is True
    assert unreadable(EventLogError("stored message is not JSON")) is True
    assert unreadable(AppendFailed("the server refused the append")) is True
