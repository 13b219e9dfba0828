"""The case cache's bookkeeping of events holding personal data, without servers."""

from __future__ import annotations

from sexto_events.case_cache import cached_case
from sexto_events.catalogue.audit import CaseRead
from sexto_events.catalogue.intake import NoteAdded
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.model import RecordedEvent

from tests.support.given import recorded


def read(seq: int) -> RecordedEvent:
    return recorded(CaseRead(view="history", service="intake", policy_version=POLICY_VERSION),
                    seq=seq)  # fmt: skip


def note(seq: int) -> RecordedEvent:
    return recorded(NoteAdded(text="invented note"), seq=seq)


def raws(events: list[RecordedEvent]) -> list[tuple[int, dict[str, object]]]:
    return [(e.seq, {"seq": e.seq}) for e in events]


def test_a_sealed_event_is_not_kept_decoded_until_opened_at_an_epoch() -> None:
    events = [read(1), note(2), read(3)]
    case = cached_case(raws(events), events)

    assert case.sealed_at == (1,)
    assert case.events[1] is None
    assert case.full is None
    assert case.opened_at(0, now=0.0) == {}


def test_opened_events_serve_only_their_epoch_and_until_their_time() -> None:
    events = [read(1), note(2)]
    case = cached_case(raws(events), events).with_opened({2: events[1]}, epoch=7, until=60.0)

    assert case.full == tuple(events)
    assert case.opened_at(7, now=59.0) == {2: events[1]}
    assert case.opened_at(8, now=59.0) == {}
    assert case.opened_at(7, now=60.0) == {}


def test_events_read_after_the_prefix_extend_the_opened_list_only_without_personal_data() -> None:
    events = [read(1), note(2)]
    opened = cached_case(raws(events), events).with_opened({2: events[1]}, epoch=1, until=60.0)

    plain = opened.extended(raws([read(3)]), [read(3)])
    sealed = opened.extended(raws([note(4)]), [note(4)])

    assert plain.full is not None
    assert [e.seq for e in plain.full] == [1, 2, 3]
    assert sealed.full is None  # the new note must be opened at the next load
    assert sealed.sealed_at == (1, 2)


def test_events_this_process_sealed_join_the_opened_list() -> None:
    events = [read(1), note(2)]
    opened = cached_case(raws(events), events).with_opened({2: events[1]}, epoch=1, until=60.0)

    grown = opened.extended_sealed(raws([note(3)]), [note(3)], epoch=1)
    unopened = cached_case(raws(events), events).extended_sealed(raws([note(3)]), [note(3)], 1)

    assert grown.full is not None
    assert [e.seq for e in grown.full] == [1, 2, 3]
    assert (grown.epoch, grown.until) == (1, 60.0)
    assert unopened.full is None


def test_events_sealed_at_another_epoch_than_the_opened_ones_drop_the_opened_list() -> None:
    # A shred between the writer's key check (epoch 1) and the append, with a load in
    # between that opened the case at epoch 2: the written plaintext may name the erased.
    events = [read(1), note(2)]
    opened = cached_case(raws(events), events).with_opened({2: events[1]}, epoch=2, until=60.0)

    grown = opened.extended_sealed(raws([note(3)]), [note(3)], epoch=1)

    assert grown.full is None
    assert grown.opened_at(2, now=0.0) == {}
    assert grown.sealed_at == (1, 2)  # the next load opens every one of them afresh
    assert [seq for seq, _ in grown.raws] == [1, 2, 3]


def test_events_written_without_personal_data_join_the_opened_list_at_any_epoch() -> None:
    events = [read(1), note(2)]
    opened = cached_case(raws(events), events).with_opened({2: events[1]}, epoch=2, until=60.0)

    grown = opened.extended_sealed(raws([read(3)]), [read(3)], epoch=None)

    assert grown.full is not None
    assert [e.seq for e in grown.full] == [1, 2, 3]
