"""A case's timeline for a legal review: what was recorded, by whom, when, chain verified;
every entry as its reader may see it (sexto_legal.disclosed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sexto_events.chain import ChainReport, verify_chain
from sexto_events.disclosure import Viewer
from sexto_events.envelope import disclose_event, parse_time
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef
from sexto_events.store import EventStore

from sexto_legal.disclosed import (
    disclosed_case_id,
    disclosed_opened,
    disclosed_stored,
    opens_personal_data,
)

SUMMARY_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of the timeline, as the reader may see it: each attribute shown, a keyed
    pseudonym or `{"withheld": true}` by its class; `type` as stored, `data` by the current
    declaration of its type."""

    seq: int
    id: Any
    time: Any
    type: Any
    actor: Any
    actor_role: Any
    protocol_version: Any
    data: dict[str, Any]

    @property
    def summary(self) -> str:
        """A one-line account of the event's data."""
        return summarise(self.data)


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """The timeline as of a time, the whole chain's verification, and what was shown.

    `case_id`, `head_hash` and `broken_event_id` (the id of the first event that breaks the
    chain) are as the reader may see them; `chain` is the verification itself.
    """

    case: CaseRef
    as_of: datetime | None
    chain: ChainReport
    entries: list[Entry]
    personal_data_shown: bool
    head_hash: Any
    case_id: Any
    broken_event_id: Any = None

    @property
    def version(self) -> int:
        """The stream sequence of the last event shown (0 for none)."""
        return self.entries[-1].seq if self.entries else 0


def summarise(data: dict[str, Any]) -> str:
    """`key=value` for scalars, counts for lists, nested records briefly; cut to one line."""
    parts = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, list):
            parts.append(f"{key}: {len(value)}")
        elif isinstance(value, dict):
            inner = ", ".join(
                f"{k}={v}" for k, v in value.items() if not isinstance(v, list | dict)
            )
            parts.append(f"{key}({inner})")
        else:
            parts.append(f"{key}={value}")
    text = "; ".join(parts)
    return text if len(text) <= SUMMARY_WIDTH else text[: SUMMARY_WIDTH - 1] + "…"


def _parsed(body: bytes) -> dict[str, Any] | None:
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    return raw if isinstance(raw, dict) else None


def _recorded_after(raw: dict[str, Any] | None, as_of: datetime) -> bool:
    """True when the event's recording time is after `as_of` (unreadable times count as after)."""
    try:
        return parse_time(str((raw or {})["time"])) > as_of
    except (KeyError, ValueError):
        return True


def _unreadable(viewer: Viewer, seq: int, raw: dict[str, Any] | None, problem: str) -> Entry:
    """An entry saying why the event cannot be read; what it still names, disclosed."""
    known = {k: str(v) for k, v in (raw or {}).items() if k in ("id", "time", "type")}
    shown = disclose_event(viewer, known, None)
    return Entry(seq, shown.get("id", "?"), shown.get("time", "?"), shown.get("type", "?"),
                 "?", "?", None, {"unreadable": problem})  # fmt: skip


async def case_history(
    store: EventStore, case: CaseRef, *, as_of: datetime | None, viewer: Viewer
) -> CaseHistory:
    """The timeline up to `as_of` (recording time), every entry as `viewer` may see it.

    Personal data is opened (decoded) only for a viewer shown it in clear; for any other,
    each event is disclosed from its sealed form, upcast to its current type version.

    The view as of a time is a prefix of the log: it ends before the first event (in stream
    order) recorded after `as_of`, so an event with an earlier time stored later (a clock
    skew, an import) never appears in a view where what preceded it is missing.

    The chain is verified over the whole case, so a reader of an earlier view still learns
    whether anything recorded since was altered. A broken chain does not stop the timeline:
    every stored event is shown (an unreadable one as such) and the report names the break.
    """
    stored = await store.read_raw(case)
    parsed = [_parsed(m.body) for m in stored]
    chain = verify_chain([p or {} for p in parsed], [m.body for m in stored])
    shown: list[tuple[int, dict[str, Any] | None]] = []
    for m, raw in zip(stored, parsed, strict=True):
        if as_of is not None and _recorded_after(raw, as_of):
            break
        shown.append((m.seq, raw))
    opened = opens_personal_data(viewer)
    entries: list[Entry] = []
    readable = [(seq, raw) for seq, raw in shown if raw is not None]
    if opened and len(readable) == len(shown):
        try:  # one key lookup for the whole case; event by event only when one fails
            decoded = await store.decoder.decode(readable)
        except _UNDECODABLE:
            pass
        else:
            entries = [_entry(event.seq, disclosed_opened(viewer, event)) for event in decoded]
            shown = []
    for seq, raw in shown:
        if raw is None:
            entries.append(_unreadable(viewer, seq, raw, "stored message is not a JSON object"))
        elif opened:
            entries.append(await _opened(store, viewer, seq, raw))
        else:
            try:
                entries.append(_entry(seq, disclosed_stored(viewer, raw)))
            except _UNDECODABLE as exc:
                problem = f"not a valid event ({type(exc).__name__})"
                entries.append(_unreadable(viewer, seq, raw, problem))
    last = parsed[-1] if parsed else None
    named = {"hash": str((last or {}).get("hash", "")), "id": chain.event_id or ""}
    shown_named = disclose_event(viewer, named, None)
    return CaseHistory(
        case, as_of, chain, entries, opened, shown_named["hash"],
        disclosed_case_id(viewer, case.case_id), shown_named["id"] if chain.event_id else None,
    )  # fmt: skip


_UNDECODABLE = (EventLogError, KeyError, TypeError, ValueError)


async def _opened(store: EventStore, viewer: Viewer, seq: int, raw: dict[str, Any]) -> Entry:
    try:
        (event,) = await store.decoder.decode([(seq, raw)])
    except _UNDECODABLE as exc:
        return _unreadable(viewer, seq, raw, f"cannot be decoded: {exc}")
    return _entry(seq, disclosed_opened(viewer, event))


def _entry(seq: int, shown: dict[str, Any]) -> Entry:
    """An entry from a disclosed event (`type` as stored, data by its current declaration)."""
    return Entry(seq, shown["id"], shown["time"], shown["stored_type"], shown["actor"],
                 shown["actorrole"], shown.get("protocolversion"), shown["data"])  # fmt: skip
