"""The benchmarks' events are today's events: a change to the catalogue that breaks
`make bench` fails here, not only when someone runs the benchmarks."""

from __future__ import annotations

from sexto_events.catalogue import CATALOGUE

from bench.fixtures import note_event, read_event


def test_the_benchmarks_write_current_event_types() -> None:
    for event in (read_event(), note_event()):
        assert CATALOGUE.is_current(type(event.data))
