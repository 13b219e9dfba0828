"""A case's timeline for a legal review: what was recorded, by whom, when, chain verified."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sexto_events.chain import ChainReport, verify_chain
from sexto_events.envelope import parse_time
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, RecordedEvent
from sexto_events.store import EventStore

from sexto_legal.pseudonyms import Pseudonymiser

SUMMARY_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of the timeline, as the reader may see it."""

    seq: int
    id: str
    time: str
    type: str
    actor: str
    actor_role: str
    protocol_version: str | None
    data: dict[str, Any]

    @property
    def summary(self) -> str:
        """A one-line account of the event's data."""
        return summarise(self.data)


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """The timeline as of a time, the whole chain's verification, and what was shown."""

    case: CaseRef
    as_of: datetime | None
    chain: ChainReport
    entries: list[Entry]
    personal_data_shown: bool
    head_hash: str

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


def _unreadable(seq: int, raw: dict[str, Any] | None, problem: str) -> Entry:
    raw = raw or {}
    return Entry(seq, str(raw.get("id", "?")), str(raw.get("time", "?")), str(raw.get("type", "?")),
                 "?", "?", None, {"unreadable": problem})  # fmt: skip


async def case_history(
    store: EventStore,
    case: CaseRef,
    *,
    as_of: datetime | None,
    reveal: bool,
    pseudonyms: Pseudonymiser,
) -> CaseHistory:
    """The timeline up to `as_of` (recording time); personal data opened only if `reveal`.

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
    entries: list[Entry] = []
    readable = [(seq, raw) for seq, raw in shown if raw is not None]
    if reveal and len(readable) == len(shown):
        try:  # one key lookup for the whole case; event by event only when one fails
            decoded = await store.decoder.decode(readable)
        except (EventLogError, KeyError, TypeError, ValueError):
            pass
        else:
            entries = [_entry(event) for event in decoded]
            shown = []
    for seq, raw in shown:
        if raw is None:
            entries.append(_unreadable(seq, raw, "stored message is not a JSON object"))
        elif reveal:
            entries.append(await _opened(store, seq, raw))
        else:
            try:
                pseudo = pseudonyms.envelope(raw)
                entries.append(
                    Entry(seq, str(pseudo["id"]), str(pseudo["time"]), str(pseudo["type"]),
                          str(pseudo["actor"]), str(pseudo["actorrole"]),
                          pseudo.get("protocolversion"), dict(pseudo["data"]))
                )  # fmt: skip
            except (KeyError, TypeError, ValueError) as exc:
                entries.append(_unreadable(seq, raw, f"not a valid event ({type(exc).__name__})"))
    last = parsed[-1] if parsed else None
    head = str((last or {}).get("hash", ""))
    return CaseHistory(case, as_of, chain, entries, reveal, head)


async def _opened(store: EventStore, seq: int, raw: dict[str, Any]) -> Entry:
    try:
        (event,) = await store.decoder.decode([(seq, raw)])
    except (EventLogError, KeyError, TypeError, ValueError) as exc:
        return _unreadable(seq, raw, f"cannot be decoded: {exc}")
    return _entry(event)


def _entry(event: RecordedEvent) -> Entry:
    env = event.envelope
    return Entry(event.seq, env.id, env.time, env.type, env.actor, env.actorrole,
                 env.protocolversion, event.data.model_dump(mode="json"))  # fmt: skip
