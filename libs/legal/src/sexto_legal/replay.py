"""Replaying the log to a JSON Lines file, every event as its reader may see it
(sexto_legal.disclosed): analysts get keyed pseudonyms, bands and withheld values from the
sealed form; legal reviewers get personal data opened.

A replay that opens personal data is a read of every case whose personal data it wrote:
each such case gets its read recorded (view "replay") once the file is written, as any
other read of a case is. The file is written under a private temporary name (mode 0600)
beside the target and renamed to it only once every read is recorded; any failure before
that (the log, a read that cannot be recorded, Ctrl-C) deletes it: personal data is never
left on disk off the record.

An event that cannot be decoded (not JSON, not an object, no type, bad ciphertext, an
unknown type) does not stop the replay: it is written as `{"seq", "unreadable": why}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from sexto_events.decode import EventDecoder
from sexto_events.disclosure import Viewer
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef, RecordedEvent
from sexto_events.stream import StreamSpec

from sexto_legal.data_subjects import sealed_subjects
from sexto_legal.disclosed import disclosed_opened, disclosed_stored, opens_personal_data
from sexto_legal.scan import StreamPosition, message_seq, scan, stream_state

_TYPE = re.compile(r"^(?:org\.sexto\.)?([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)(?:\.v(\d+))?$")
_TERRITORY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadFilter(ValueError):
    """A --type or --territory that cannot name events."""


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which events: from a position, of some types (context.event[.vN]), in some territories."""

    start: StreamPosition | None = None
    types: Sequence[str] = ()
    territories: Sequence[str] = ()

    def subjects(self, root: str) -> list[str]:
        """The NATS subject filters selecting these events (no overlap between them)."""
        for territory in self.territories:
            if not _TERRITORY.match(territory):
                raise BadFilter(f"territory {territory!r}: letters, digits, '-' or '_' only")
        suffixes = sorted({".".join(self._parse(t)[:2]) for t in self.types})
        territories = sorted(set(self.territories)) or ["*"]
        if not suffixes:
            return [] if territories == ["*"] else [f"{root}.{t}.>" for t in territories]
        return [f"{root}.{t}.*.{s}" for t in territories for s in suffixes]

    def versions(self) -> set[str] | None:
        """Accepted type names when some --type names a version (`*ctx.event`: any version)."""
        parsed = [self._parse(t) for t in self.types]
        if not any(version for _, _, version in parsed):
            return None
        return {f"org.sexto.{c}.{n}.v{v}" if v else f"*{c}.{n}" for c, n, v in parsed}

    @staticmethod
    def _parse(text: str) -> tuple[str, str, str]:
        found = _TYPE.match(text)
        if not found:
            raise BadFilter(f"event type {text!r}: write context.event (e.g. intake.case_reported)")
        return found.group(1), found.group(2), found.group(3) or ""


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What was written."""

    events: int
    last_seq: int
    personal_data_shown: bool
    next_seq: int = 1  # where to resume (--since is inclusive): everything before was read
    reads_recorded: int = 0  # cases whose personal data was opened, each read on its record


def _type_wanted(wanted: set[str] | None, type_name: str) -> bool:
    if wanted is None or type_name in wanted:
        return True
    short = "*" + ".".join(type_name.split(".")[2:4])
    return short in wanted


async def replay_to_file(
    nc: Client,
    spec: StreamSpec,
    out: Path,
    *,
    selection: ReplayFilter,
    viewer: Viewer,
    decoder: EventDecoder,
    record_read: Callable[[CaseRef], Awaitable[None]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplaySummary:
    """Write the selected events, in stream order, one JSON object per line: `seq` and the
    event as `viewer` may see it, upcast to its current type (`stored_type` as stored).

    Personal data is opened with `decoder` only for a viewer shown it in clear; then
    `record_read` is required: it records the read of each case whose personal data was
    written. Any other viewer's lines are disclosed from the sealed form.
    """
    opening = opens_personal_data(viewer)
    if opening and record_read is None:
        raise ValueError("a replay that opens personal data must record its reads")
    opened: set[CaseRef] = set()
    filters = selection.subjects(spec.subject_root)
    wanted = selection.versions()
    state = await stream_state(nc, spec)
    start_seq = selection.start.seq if selection.start and selection.start.seq else 1
    total = state.last_seq - start_seq + 1
    count = last = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    fd, part, target = _private_part(out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            async for msgs in scan(nc, spec, filters=filters, start=selection.start):
                rows: list[tuple[int, dict[str, Any] | str]] = []
                for msg in msgs:
                    raw = _parsed(msg.data)
                    if isinstance(raw, str) or _type_wanted(wanted, str(raw["type"])):
                        rows.append((message_seq(msg), raw))
                lines = await _render(rows, viewer, decoder if opening else None, opened)
                sink.write("".join(dumps(line) + "\n" for line in lines))
                count += len(lines)
                last = message_seq(msgs[-1])
                if progress is not None:
                    progress(count, max(total, count))
        # A scan reads up to the stream's last sequence when it began at least (a filtered
        # scan ends only when nothing matching is pending), so nothing before `next_seq` is
        # missed.
        next_seq = max(last, state.last_seq, start_seq - 1) + 1
        if opened and record_read is not None:
            await _record_all(record_read, sorted(opened, key=str))
        await asyncio.to_thread(os.replace, part, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)  # no await: this runs on cancellation too
        raise
    return ReplaySummary(count, last, opening, next_seq, len(opened))


def _private_part(out: Path) -> tuple[int, str, str]:
    """A new file for writing, readable by its owner only (mkstemp: 0600, a name nobody
    else holds) in the target's directory, so that renaming it to the target is atomic."""
    target = os.path.abspath(out)
    fd, part = tempfile.mkstemp(
        dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.", suffix=".part"
    )
    return fd, part, target


def _parsed(body: bytes) -> dict[str, Any] | str:
    """The stored envelope, or why it cannot be read as one."""
    try:
        raw = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return "stored message is not JSON"
    if not isinstance(raw, dict):
        return "stored message is not a JSON object"
    if not isinstance(raw.get("type"), str):
        return "stored message has no event type"
    return raw


async def _record_all(
    record_read: Callable[[CaseRef], Awaitable[None]], cases: list[CaseRef]
) -> None:
    """Record every read (a few at a time); the first failure is raised."""
    gate = asyncio.Semaphore(16)

    async def one(case: CaseRef) -> None:
        async with gate:
            await record_read(case)

    await asyncio.gather(*(one(case) for case in cases))


_UNDECODABLE = (EventLogError, KeyError, TypeError, ValueError)


async def _render(
    rows: list[tuple[int, dict[str, Any] | str]],
    viewer: Viewer,
    decoder: EventDecoder | None,
    opened: set[CaseRef],
) -> list[dict[str, Any]]:
    """The lines for these rows; an event that cannot be read is a line saying so.

    With a decoder (personal data opened), the case of every event written with personal
    data opened is added to `opened` (its read must be recorded).
    """
    if decoder is None:
        return [_sealed(seq, raw, viewer) for seq, raw in rows]
    readable = [(seq, raw) for seq, raw in rows if not isinstance(raw, str)]
    if len(readable) == len(rows):
        try:  # one key lookup for the whole batch; event by event only when one fails
            events = await decoder.decode(readable)
        except _UNDECODABLE:
            pass
        else:
            return [
                _opened(seq, raw, event, viewer, opened)
                for (seq, raw), event in zip(readable, events, strict=True)
            ]
    lines = []
    for seq, raw in rows:
        if isinstance(raw, str):
            lines.append({"seq": seq, "unreadable": raw})
            continue
        try:
            (event,) = await decoder.decode([(seq, raw)])
        except _UNDECODABLE as exc:
            lines.append(_unreadable(seq, raw, f"cannot be decoded ({_problem(exc)})"))
        else:
            lines.append(_opened(seq, raw, event, viewer, opened))
    return lines


def _problem(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, EventLogError) else type(exc).__name__


def _unreadable(seq: int, raw: dict[str, Any], problem: str) -> dict[str, Any]:
    return {"seq": seq, "stored_type": raw.get("type"), "unreadable": problem}


def _opened(
    seq: int, raw: dict[str, Any], event: RecordedEvent, viewer: Viewer, opened: set[CaseRef]
) -> dict[str, Any]:
    if sealed_subjects([raw]):
        opened.add(CaseRef(str(raw.get("territory")), str(raw.get("subject"))))
    return {"seq": seq, **disclosed_opened(viewer, event)}


def _sealed(seq: int, raw: dict[str, Any] | str, viewer: Viewer) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"seq": seq, "unreadable": raw}
    try:
        return {"seq": seq, **disclosed_stored(viewer, raw)}
    except _UNDECODABLE as exc:
        return _unreadable(seq, raw, f"not a valid event ({_problem(exc)})")
