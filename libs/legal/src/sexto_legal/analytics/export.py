"""`sexto export-analytics`: the log as analysts may see it, in Parquet, one partition per
run from the last run's watermark.

A run first tries again the events earlier runs could not read (the manifest keeps their
sequences until they read), then reads the events after the manifest's watermark up to the
stream's last sequence when it starts, in stream order, in batches (bounded memory: rows
go to Parquet row groups as they come; only each touched case's small fold is kept). Each
event is disclosed to the analyst by the one disclosure function (sexto_legal.disclosed)
and written to its type's table; each case touched is folded (from its first event: the
events before the watermark are read back from the log) and written again to `cases` and
`students` with its new version. A student shredded since is withdrawn from every
partition, earlier ones rewritten file by file (a temporary file renamed over the old one).

The partition is written in a hidden temporary folder renamed to `run-NNNNN` when complete,
then the manifest last: an interrupted run leaves the committed runs and the manifest as
they were, and the next run discards what it left and starts again from the watermark.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from nats.aio.client import Client
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.decode import parse_body
from sexto_events.disclosure import POLICY_VERSION, Viewer
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef
from sexto_events.store import EventStore

from sexto_legal.analytics.facts import CaseFacts
from sexto_legal.analytics.manifest import (
    Manifest,
    RunRecord,
    key_fingerprint,
    read_manifest,
    run_dir,
    write_manifest,
)
from sexto_legal.analytics.tables import (
    CASES,
    STUDENTS,
    data_columns,
    event_row,
    event_schema,
    schema,
)
from sexto_legal.disclosed import disclosed_stored
from sexto_legal.scan import StreamPosition, message_seq, scan, stream_state

ROWS_PER_GROUP = 20_000
_UNREADABLE = (EventLogError, KeyError, TypeError, ValueError)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What a run did (None: nothing new since the last run, and none of the earlier
    unreadable events reads yet); `pending`, the unreadable events left for the next run."""

    record: RunRecord | None
    watermark: int
    out: Path
    pending: int = 0


class _Table:
    """One table of the partition: rows buffered, written a row group at a time."""

    def __init__(self, path: Path, table_schema: pa.Schema) -> None:
        self.path = path
        self.schema = table_schema
        self.rows: list[dict[str, Any]] = []
        self.writer: pq.ParquetWriter | None = None
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROWS_PER_GROUP:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()


class _Partition:
    """The tables of one run, in its temporary folder."""

    def __init__(self, folder: Path, viewer: Viewer) -> None:
        self.folder = folder
        self.viewer = viewer
        self.tables: dict[str, _Table] = {}
        self.columns: dict[str, list[tuple[str, pa.DataType | str]]] = {}

    def table(self, name: str, table_schema: Callable[[], pa.Schema]) -> _Table:
        found = self.tables.get(name)
        if found is None:
            found = self.tables[name] = _Table(self.folder / f"{name}.parquet", table_schema())
        return found

    def add_event(self, seq: int, shown: dict[str, Any]) -> None:
        model = CATALOGUE.resolve(str(shown["type"]))
        name = f"events/{model.subject_suffix()}"
        if name not in self.columns:
            self.columns[name] = data_columns(self.viewer, model)
        table = self.table(name, lambda: event_schema(self.viewer, model))
        table.add(event_row(seq, shown, self.columns[name]))

    def close(self) -> None:
        for table in self.tables.values():
            table.close()


async def export_analytics(
    nc: Client,
    store: EventStore,
    out: Path,
    *,
    viewer: Viewer,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write the next partition of the analytics export in `out` (see the module's doc)."""
    if viewer.pseudonyms is None:
        raise EventLogError("an analytics export needs the analysis key's pseudonyms")
    spec = store.spec
    manifest = _open_folder(out, key_fingerprint(viewer.pseudonyms))
    high = (await stream_state(nc, spec)).last_seq
    start = manifest.watermark + 1
    if high < start and not manifest.unreadable:
        return ExportSummary(None, manifest.watermark, out)
    pending = len(manifest.unreadable)
    run = manifest.next_run
    before = set(manifest.withdrawn)
    temporary = _new_folder(out / f".run-{run:05d}.part")
    try:
        record = await _write_run(nc, store, manifest, temporary, viewer, run, start, high,
                                  progress)  # fmt: skip
        if high < start and record.events == 0:
            # Only earlier unreadable events were tried, and none reads yet: no partition.
            shutil.rmtree(temporary)
            return ExportSummary(None, manifest.watermark, out, pending)
        earlier = [run_dir(out, r.run) for r in manifest.runs]
        rows, cells = _withdraw_all(earlier, set(manifest.withdrawn) - before)
        os.replace(temporary, run_dir(out, run))
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    record = RunRecord(**{**record.__dict__, "withdrawn_rows": record.withdrawn_rows + rows,
                          "withdrawn_cells": record.withdrawn_cells + cells})  # fmt: skip
    manifest.runs.append(record)
    manifest.watermark = high
    manifest.policy_version = POLICY_VERSION
    write_manifest(out, manifest)
    return ExportSummary(record, high, out, len(manifest.unreadable))


def _open_folder(out: Path, fingerprint: str) -> Manifest:
    """The folder's manifest (refused for another key), the folder made if new and what an
    interrupted run left removed: its temporary folder, or its partition renamed but never
    committed to the manifest."""
    manifest = read_manifest(out, fingerprint, POLICY_VERSION)
    out.mkdir(parents=True, exist_ok=True)
    committed = {run_dir(out, r.run).name for r in manifest.runs}
    for entry in out.iterdir():
        unfinished = entry.name.startswith(".run-") or (
            entry.name.startswith("run-") and entry.name not in committed
        )
        if unfinished and entry.is_dir():
            shutil.rmtree(entry)
    return manifest


def _new_folder(path: Path) -> Path:
    path.mkdir()
    return path


async def _write_run(
    nc: Client,
    store: EventStore,
    manifest: Manifest,
    folder: Path,
    viewer: Viewer,
    run: int,
    start: int,
    high: int,
    progress: Callable[[int, int], None] | None,
) -> RunRecord:
    """Write the run's partition: the earlier runs' unreadable events tried again (the
    manifest keeps those still unreadable), then the events from `start` to `high`."""
    partition = _Partition(folder, viewer)
    facts: dict[CaseRef, CaseFacts] = {}
    partial: set[CaseRef] = set()
    events = 0
    unreadable: list[int] = []

    def take(seq: int, body: bytes) -> None:
        nonlocal events
        try:
            raw = parse_body(body)
            shown = disclosed_stored(viewer, raw)
            case = CaseRef(str(raw["territory"]), str(raw["subject"]))
            partition.add_event(seq, shown)
        except _UNREADABLE:
            unreadable.append(seq)
            return
        events += 1
        if case not in facts:
            facts[case] = CaseFacts(str(shown["subject"]), case.territory)
            if raw.get("prevhash"):  # its first events are before the watermark
                partial.add(case)
        if case not in partial:
            _fold(facts[case], seq, shown)

    retried = manifest.unreadable
    js = nc.jetstream()
    for seq in retried:  # all before `start`: stream order is kept
        take(seq, (await js.get_msg(store.spec.name, seq, direct=True)).data or b"")
    if start <= high:
        async for msgs in scan(nc, store.spec, start=StreamPosition(seq=start)):
            for msg in msgs:
                seq = message_seq(msg)
                if seq > high:
                    break
                take(seq, msg.data)
            if progress is not None:
                progress(min(message_seq(msgs[-1]), high) - start + 1, high - start + 1)
    for case in sorted(partial, key=str):
        facts[case] = CaseFacts(facts[case].case, case.territory)
        for stored in await store.read_raw(case, up_to_seq=high):
            try:
                _fold(facts[case], stored.seq, disclosed_stored(viewer, parse_body(stored.body)))
            except _UNREADABLE:
                continue
    withdrawn = set(manifest.withdrawn)
    for each in facts.values():
        withdrawn |= each.shredded
    cases = partition.table("cases", lambda: schema(CASES))
    students = partition.table("students", lambda: schema(STUDENTS))
    for each in facts.values():
        if each.figures.discovered is None:
            continue  # never reported (as `sexto stats`, which counts reported cases)
        cases.add(each.case_row(run))
        for row in each.student_rows(run):
            students.add(row)
    partition.close()
    newly = withdrawn - set(manifest.withdrawn)
    rows, cells = _withdraw_all([folder], withdrawn)
    manifest.withdrawn = sorted(withdrawn)
    manifest.unreadable = unreadable
    return RunRecord(
        run=run, from_seq=start, to_seq=high, events=events, cases=cases.count,
        students=students.count, unreadable=len(unreadable), withdrawn_students=len(newly),
        withdrawn_rows=rows, withdrawn_cells=cells,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"), retried=len(retried),
    )  # fmt: skip


def _fold(facts: CaseFacts, seq: int, shown: dict[str, Any]) -> None:
    try:
        facts.take(seq, shown)
    except (KeyError, TypeError, ValueError):
        facts.version = max(facts.version, seq)  # left out of the figures, as in stats


def _withdraw_all(folders: Iterable[Path], students: set[str]) -> tuple[int, int]:
    """Withdraw these students from every table of these partitions: (rows, cells)."""
    rows = cells = 0
    if not students:
        return 0, 0
    for folder in folders:
        for path in sorted(folder.rglob("*.parquet")):
            removed, scrubbed = _withdraw_file(path, students)
            rows += removed
            cells += scrubbed
    return rows, cells


def _withdraw_file(path: Path, students: set[str]) -> tuple[int, int]:
    """Rewrite one file without these students: a row about one goes (its string column
    holds their pseudonym, or its JSON object is theirs); one in a list column or in a list
    inside JSON text is taken out of the value. The new file is written beside and renamed
    over the old one (a reader sees one or the other)."""
    source = pq.ParquetFile(path)
    file_schema = source.schema_arrow
    part = path.with_name(f".{path.name}.part")
    removed = scrubbed = 0
    with pq.ParquetWriter(part, file_schema, compression="zstd") as writer:
        for batch in source.iter_batches(batch_size=ROWS_PER_GROUP):
            kept: list[dict[str, Any]] = []
            for row in batch.to_pylist():
                edits = _scrub_row(row, file_schema, students)
                if edits is None:
                    removed += 1
                    continue
                scrubbed += edits
                kept.append(row)
            writer.write_table(pa.Table.from_pylist(kept, schema=file_schema))
    if removed or scrubbed:
        os.replace(part, path)
    else:
        part.unlink()
    return removed, scrubbed


def _scrub_row(row: dict[str, Any], file_schema: pa.Schema, students: set[str]) -> int | None:
    """Take these students out of a row in place: the values edited, or None when the row
    is about one of them and must go."""
    edits = 0
    for f in file_schema:
        value = row.get(f.name)
        if isinstance(value, str) and value in students:
            return None
        if isinstance(value, list):
            kept = [item for item in value if item not in students]
            edits += len(value) - len(kept)
            row[f.name] = kept
        elif isinstance(value, str) and value[:1] in "[{" and any(s in value for s in students):
            parsed = json.loads(value)
            if _names(parsed, students):
                return None  # an object that is theirs (intake.student_added's `student`)
            cleaned = _scrub_json(parsed, students)
            if cleaned != parsed:
                row[f.name] = json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"),
                                         sort_keys=True)  # fmt: skip
                edits += 1
    return edits


def _scrub_json(value: Any, students: set[str]) -> Any:
    """JSON without these students: list items naming one (a ref, or an object holding a
    ref) are taken out."""
    if isinstance(value, list):
        return [_scrub_json(item, students) for item in value if not _names(item, students)]
    if isinstance(value, dict):
        return {k: _scrub_json(v, students) for k, v in value.items()}
    return value


def _names(item: Any, students: set[str]) -> bool:
    """True when a JSON value is one of these students: their ref, or an object holding it
    (directly or in an object it holds, not in a list: a list's items are taken out)."""
    if isinstance(item, str):
        return item in students
    if isinstance(item, dict):
        return any(_names(v, students) for v in item.values() if not isinstance(v, list))
    return False
