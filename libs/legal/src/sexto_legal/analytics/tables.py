"""The columns of the analytics export, declared once: they write the Parquet files and
docs/analytics.md (a test keeps the two equal).

An event type's table has the envelope's columns, then one column per field of the type's
current declaration that analysts are given (a class the disclosure policy withholds from
them has no column at all). A field given as a keyed pseudonym or a band is a string; a
scalar field keeps its type; a list of strings is a list; anything nested is JSON text, as
`disclose` wrote it (a withheld value inside reads {"withheld": true}).
"""

from __future__ import annotations

import datetime as dt
import json
import types
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pyarrow as pa
from pydantic.fields import FieldInfo
from sexto_events.catalogue.base import EventData
from sexto_events.disclosure import Treatment, Viewer, field_class

from sexto_legal.stats import MILESTONES

TIME = pa.timestamp("us", tz="UTC")
JSON = "json"  # a string column holding JSON text (documented apart)

# Every event table starts with these (the envelope as analysts see it).
ENVELOPE: list[tuple[str, pa.DataType, str]] = [
    ("seq", pa.int64(), "stream sequence of the event"),
    ("event_id", pa.string(), "the event's id"),
    ("case", pa.string(), "the case's keyed pseudonym (c-…)"),
    ("territory", pa.string(), "police territory"),
    ("time", TIME, "when the event was recorded (UTC)"),
    ("stored_type", pa.string(), "the type as stored (an older version is upcast)"),
    ("actor", pa.string(), "who acted: a keyed pseudonym (p-…) or a service"),
    ("actorrole", pa.string(), "the actor's role"),
    ("protocolversion", pa.string(), "the protocol version a rule applied under, if any"),
]
ENVELOPE_KEYS = {"seq": "seq", "event_id": "id", "case": "subject"}

_MILESTONE_COLUMNS = [
    column
    for name in MILESTONES.values()
    for column in (
        (f"{name}_at", TIME, f"first {name} event's time"),
        (f"{name}_hours", pa.float64(), f"hours from discovery to {name}"),
    )
]

CASES: list[tuple[str, pa.DataType, str]] = [
    ("run", pa.int32(), "the export run that wrote the row"),
    ("case", pa.string(), "the case's keyed pseudonym (c-…)"),
    ("version", pa.int64(), "the case's version: stream sequence of its last event exported"),
    ("territory", pa.string(), "police territory"),
    ("school", pa.string(), "the school's keyed pseudonym (sch-…)"),
    ("protocol", pa.string(), "sexto-qc or uk-dsl"),
    ("protocol_version", pa.string(), "the protocol version the report was made under"),
    ("month", pa.string(), "month of discovery, UTC (YYYY-MM), as `sexto stats` counts"),
    ("discovered_at", TIME, "when the school learnt"),
    ("discovery_channel", pa.string(), "how the school learnt"),
    ("students", pa.int32(), "students in the case (shredded ones left out)"),
    ("escalated", pa.bool_(), "an escalation was requested"),
    ("urgency", pa.string(), "the latest urgency"),
    ("recommendation", pa.string(), "the latest assessment's recommendation"),
    *_MILESTONE_COLUMNS,
    ("indications", pa.list_(pa.string()), "each student's latest indication, sorted"),
    ("decisions", pa.list_(pa.string()), "each student's latest prosecutor decision, sorted"),
    ("overdue", pa.list_(pa.string()), "every deadline breach's step, sorted"),
    ("uk_outcomes", pa.list_(pa.string()), "UK path: agencies referred to, or not_referred"),
    ("closed", pa.bool_(), "the school closed the case"),
    ("resolution", pa.string(), "the closure's resolution"),
    ("events", pa.int64(), "events of the case up to its version"),
]

STUDENTS: list[tuple[str, pa.DataType, str]] = [
    ("run", pa.int32(), "the export run that wrote the row"),
    ("case", pa.string(), "the case's keyed pseudonym (c-…)"),
    ("version", pa.int64(), "the case's version the row was folded at"),
    ("student", pa.string(), "the student's keyed pseudonym (s-…), keyed by the case too"),
    ("roles", pa.list_(pa.string()), "the student's roles (latest)"),
    ("track", pa.string(), "offender, victim or witness: as assessed, else from the roles"),
    ("age_band", pa.string(), "age band (under_12, 12_13, …)"),
    ("grade_band", pa.string(), "grade band (grades_7_8, …)"),
    ("indication", pa.string(), "the latest indication (assessment or escalation)"),
    ("decision", pa.string(), "the prosecutor's latest decision"),
]


def schema(columns: list[tuple[str, pa.DataType, str]]) -> pa.Schema:
    """The Parquet schema of a declared table."""
    return pa.schema([pa.field(name, kind) for name, kind, _ in columns])


def _scalar(annotation: Any) -> pa.DataType | None:
    """The Arrow type of a scalar annotation (None: not a scalar)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalar(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [_scalar(a) for a in get_args(annotation) if a is not type(None)]
        return kinds[0] if len(kinds) == 1 else None
    if origin is Literal:
        return pa.string()
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return pa.list_(pa.string()) if _scalar(item) == pa.string() else None
    if annotation is bool:
        return pa.bool_()
    if annotation is int:
        return pa.int64()
    if annotation is float:
        return pa.float64()
    if annotation is dt.datetime:
        return TIME
    if annotation is dt.date:
        return pa.date32()
    if annotation is str or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return pa.string()
    return None


def _column_type(viewer: Viewer, field: FieldInfo) -> pa.DataType | str | None:
    """A field's column type for this viewer; None when the field has no column."""
    marker = field_class(field)
    if marker is not None:
        treatment = viewer.treatment(marker.data_class)
        if treatment is Treatment.WITHHELD:
            return None
        if treatment is Treatment.PSEUDONYMISED:
            scalar = _scalar(field.annotation)
            if scalar is not None and pa.types.is_list(scalar):
                return pa.list_(pa.string())
            return pa.string() if scalar is not None else JSON
    return _scalar(field.annotation) or JSON


def data_columns(viewer: Viewer, model: type[EventData]) -> list[tuple[str, pa.DataType | str]]:
    """The data columns of an event type's table (a name taken by the envelope gets
    `data_` before it)."""
    taken = {name for name, _, _ in ENVELOPE}
    out: list[tuple[str, pa.DataType | str]] = []
    for name, field in model.model_fields.items():
        kind = _column_type(viewer, field)
        if kind is not None:
            out.append((f"data_{name}" if name in taken else name, kind))
    return out


def event_schema(viewer: Viewer, model: type[EventData]) -> pa.Schema:
    """The Parquet schema of an event type's table."""
    fields = [pa.field(name, kind) for name, kind, _ in ENVELOPE]
    for name, kind in data_columns(viewer, model):
        fields.append(pa.field(name, kind if isinstance(kind, pa.DataType) else pa.string()))
    return pa.schema(fields)


def _placeholder(value: Any) -> bool:
    return isinstance(value, dict) and value in ({"withheld": True}, {"erased": True})


def cell(kind: pa.DataType | str, value: Any) -> Any:
    """One disclosed value in its column (a withheld or erased scalar is null)."""
    if value is None:
        return None
    if kind == JSON:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    assert isinstance(kind, pa.DataType)
    if _placeholder(value):
        return None
    if kind == TIME:
        return dt.datetime.fromisoformat(str(value))
    if kind == pa.date32():
        return dt.date.fromisoformat(str(value))
    if pa.types.is_list(kind):
        return [str(item) for item in value if not _placeholder(item)]
    if pa.types.is_string(kind):
        return value if isinstance(value, str) else None
    if pa.types.is_boolean(kind):
        return value if isinstance(value, bool) else None
    # A value of the wrong type is null, never a failed row group.
    allowed = int if pa.types.is_integer(kind) else int | float
    return value if isinstance(value, allowed) and not isinstance(value, bool) else None


def event_row(
    seq: int, shown: Mapping[str, Any], columns: list[tuple[str, pa.DataType | str]]
) -> dict[str, Any]:
    """An event as analysts see it (disclosed_stored), as a row of its type's table."""
    row: dict[str, Any] = {
        "seq": seq,
        "event_id": shown.get("id"),
        "case": shown.get("subject"),
        "territory": shown.get("territory"),
        "time": cell(TIME, shown.get("time")),
        "stored_type": shown.get("stored_type"),
        "actor": shown.get("actor") if isinstance(shown.get("actor"), str) else None,
        "actorrole": shown.get("actorrole"),
        "protocolversion": shown.get("protocolversion"),
    }
    data = shown.get("data") or {}
    for name, kind in columns:
        key = name.removeprefix("data_") if name.startswith("data_") else name
        row[name] = cell(kind, data.get(key))
    return row


def _type_name(kind: pa.DataType | str) -> str:
    return "string (JSON)" if kind == JSON else str(kind)


def columns_markdown(viewer: Viewer, models: list[type[EventData]]) -> str:
    """The tables and their column types as Markdown (docs/analytics.md holds it)."""
    lines = ["### `cases`", "", "| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| {n} | {k} | {d} |" for n, k, d in CASES]
    lines += ["", "### `students`", "", "| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| {n} | {k} | {d} |" for n, k, d in STUDENTS]
    lines += ["", "### Every event table starts with", "", "| column | type | meaning |"]
    lines += ["| --- | --- | --- |"] + [f"| {n} | {k} | {d} |" for n, k, d in ENVELOPE]
    lines += [
        "",
        "### Event tables: their data columns",
        "",
        "| table | columns |",
        "| --- | --- |",
    ]
    for model in models:
        cols = ", ".join(f"{n} {_type_name(k)}" for n, k in data_columns(viewer, model)) or "(none)"
        lines.append(f"| {model.subject_suffix()} | {cols} |")
    return "\n".join(lines) + "\n"
