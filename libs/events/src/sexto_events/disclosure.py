"""Who sees what: every field's class of data, the one policy table (role x class), and the
one function that applies it wherever data leaves the system (DOMAIN.md, "Who sees what").

Every field of every event and of every read-model answer declares its class once, with
the data (`classed(...)`, or `personal(..., data_class=...)` for sealed fields); the class
is in the field's JSON Schema as `x-data-class`. `disclose` walks a model's fields and
shows, pseudonymises or withholds each value by the reader's row of `POLICY`. A field
without a class, or a value the model does not declare, is withheld (deny by default).

A value withheld reads `{"withheld": true}` everywhere (REST, webhooks, e-mails, the
command line, exports); a value whose key was shredded reads `{"erased": true}`
(catalogue.base.Erased) to those shown it: gone, not hidden. Pseudonyms are keyed
(`Pseudonymiser`, HMAC-SHA256 under the analysis key); ages and grades become bands.
"""

from __future__ import annotations

import functools
import hmac
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from sexto_events.principal import Principal, Role

CLASS_KEY = "x-data-class"
BY_EVENT_KEY = "x-disclosed-by-event-type"
SEALED_MARK = "$sealed"  # as sexto_events.personal writes it (kept here: the domain is pure)


class DataClass(StrEnum):
    """The classes of data. A field holds one, declared with it."""

    REFERENCE = "reference"
    JURISDICTION = "jurisdiction"
    IDENTITY = "identity"
    CONTACT = "contact"
    NARRATIVE = "narrative"
    GRID = "grid"
    OUTCOME = "outcome"
    STAFF = "staff"
    CALLBACK = "callback"
    EXTERNAL_REF = "external_ref"
    CUSTODY = "custody"
    RECORD = "record"
    LEGAL = "legal"


CLASS_EXAMPLES: Mapping[DataClass, str] = {
    DataClass.REFERENCE: "case id, student refs, seal numbers, school id, event hashes",
    DataClass.JURISDICTION: "territory, protocol and its version, institutions' names",
    DataClass.IDENTITY: "names, dates of birth, student numbers",
    DataClass.CONTACT: "parents' and students' contact details",
    DataClass.NARRATIVE: "summary, notes, reasons and justifications in words",
    DataClass.GRID: "the grid's answers, ages, grades",
    DataClass.OUTCOME: "roles, indications, urgency, recommendation, decisions, milestones",
    DataClass.STAFF: "who acted: pseudonymous staff ids",
    DataClass.CALLBACK: "the school's intervener police are to call back",
    DataClass.EXTERNAL_REF: "911 call, DPCP file, referral and court references",
    DataClass.CUSTODY: "seal states, measures taken on devices, hand-overs",
    DataClass.RECORD: "the record's own bookkeeping: event ids, types, times, versions",
    DataClass.LEGAL: "legal holds and erasures: their reasons and court or request references",
}


class Treatment(StrEnum):
    """What a reader gets of a class."""

    SHOWN = "shown"
    PSEUDONYMISED = "pseudonymised"  # a keyed pseudonym, or a band for ages and grades
    WITHHELD = "withheld"


SHOWN, PSEUDO, HIDDEN = Treatment.SHOWN, Treatment.PSEUDONYMISED, Treatment.WITHHELD

POLICY_VERSION = "2"
"""The version of the table below; every read-audit event records it. Version 1 was the
rule before the table: personal data opened to every role but analysts."""

_COLUMNS = tuple(DataClass)
# One row per role, one column per class in the order of DataClass:
#   reference jurisdiction identity contact narrative grid outcome staff callback
#   external_ref custody record legal
_ROWS: dict[Role, tuple[Treatment, ...]] = {
    Role.INTERVENER: (SHOWN,) * 12 + (HIDDEN,),
    Role.SAFEGUARDING_LEAD: (SHOWN,) * 12 + (HIDDEN,),
    Role.SCHOOL_ADMIN: (SHOWN, SHOWN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, SHOWN, SHOWN, SHOWN,
                        HIDDEN, HIDDEN, SHOWN, HIDDEN),
    Role.POLICE_DISPATCH: (SHOWN, SHOWN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, SHOWN, HIDDEN, SHOWN,
                           SHOWN, SHOWN, SHOWN, HIDDEN),
    Role.POLICE_OFFICER: (SHOWN,) * 12 + (HIDDEN,),
    Role.PROSECUTOR: (SHOWN, SHOWN, SHOWN, HIDDEN, SHOWN, SHOWN, SHOWN, SHOWN, SHOWN,
                      SHOWN, SHOWN, SHOWN, HIDDEN),
    Role.ANALYST: (PSEUDO, SHOWN, HIDDEN, HIDDEN, HIDDEN, PSEUDO, SHOWN, PSEUDO, PSEUDO,
                   HIDDEN, SHOWN, SHOWN, HIDDEN),
    Role.LEGAL_REVIEWER: (SHOWN,) * 13,
    Role.ADMIN: (HIDDEN, SHOWN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN,
                 HIDDEN, SHOWN, SHOWN),
}  # fmt: skip

POLICY: Mapping[Role, Mapping[DataClass, Treatment]] = types.MappingProxyType(
    {
        role: types.MappingProxyType(dict(zip(_COLUMNS, row, strict=True)))
        for role, row in _ROWS.items()
    }
)
"""Role x class -> treatment: the rule (DOMAIN.md's starting table, as this project keeps it)."""


@dataclass(frozen=True, slots=True)
class FieldClass:
    """A field's class and, for pseudonyms and bands, what kind of value it holds."""

    data_class: DataClass
    kind: str | None = None


def class_marker(data_class: DataClass, kind: str | None = None) -> dict[str, Any]:
    """The JSON Schema extra naming a field's class (and kind)."""
    marker: dict[str, str] = {"class": data_class.value}
    if kind is not None:
        marker["kind"] = kind
    return {CLASS_KEY: marker}


def classed(data_class: DataClass, kind: str | None = None, **field_kwargs: Any) -> Any:
    """A pydantic Field declaring its class of data (and kind: student, case, person, file,
    kit_seal, school, hash, subject_key, age, grade, choice...)."""
    extra = dict(field_kwargs.pop("json_schema_extra", None) or {})
    extra.update(class_marker(data_class, kind))
    return Field(json_schema_extra=extra, **field_kwargs)


def by_event_type(description: str) -> Any:
    """A pydantic Field holding an event's data, disclosed field by field by its event type's
    declaration (`disclose_event`) rather than by one class of its own."""
    return Field(description=description, json_schema_extra={BY_EVENT_KEY: True})


def _marker(extra: Any) -> FieldClass | None:
    if isinstance(extra, dict) and isinstance(extra.get(CLASS_KEY), dict):
        marker = extra[CLASS_KEY]
        return FieldClass(DataClass(marker["class"]), marker.get("kind"))
    return None


def _annotated_marker(annotation: Any) -> FieldClass | None:
    for item in getattr(annotation, "__metadata__", ()):
        if isinstance(item, FieldInfo):
            found = _marker(item.json_schema_extra)
            if found is not None:
                return found
    for arg in get_args(annotation):
        found = _annotated_marker(arg)
        if found is not None:
            return found
    return None


def field_class(field: FieldInfo) -> FieldClass | None:
    """The class a field declares (on the field or on its annotated type), if any."""
    return _marker(field.json_schema_extra) or _annotated_marker(field.annotation)


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (alone, optional, or in a list), if any."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return nested_model(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            found = nested_model(arg)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def unclassified_fields(model: type[BaseModel], path: str = "") -> list[str]:
    """Every field of `model` (nested models included) that declares no class."""
    missing: list[str] = []
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra
        if field_class(field) is not None or (isinstance(extra, dict) and BY_EVENT_KEY in extra):
            continue
        nested = nested_model(field.annotation)
        if nested is not None and nested.__name__ not in ("Erased", "Withheld"):
            missing += unclassified_fields(nested, f"{path}{name}.")
        else:
            missing.append(f"{path}{name}")
    return missing


class Withheld(BaseModel):
    """What a value withheld from its reader reads as."""

    withheld: bool = True


def withheld() -> dict[str, bool]:
    """The placeholder of a value withheld from this reader."""
    return {"withheld": True}


_GRADE = re.compile(
    r"^\s*(?P<system>sec(?:ondary|ondaire)?\.?|year|yr|grade|gr\.?)?\s*(?P<n>\d{1,2})\s*$",
    re.IGNORECASE,
)


def age_band(age: int) -> str:
    """An age as analysts see it."""
    if age < 12:
        return "under_12"
    if age >= 18:
        return "18_plus"
    low = age - (age % 2)
    return f"{low}_{low + 1}"


def grade_band(grade: str) -> str | dict[str, bool]:
    """A school grade as analysts see it: its North American grade level in a band (a
    Quebec "Secondaire 3" is grade 9, an English "Year 10" grade 9); text that is not a
    grade is withheld, never shown."""
    found = _GRADE.match(grade)
    if found is None:
        return withheld()
    system = (found["system"] or "grade").lower()
    level = int(found["n"])
    if system.startswith("sec"):
        level += 6
    elif system.startswith(("year", "yr")):
        level -= 1
    if level < 1 or level > 13:
        return withheld()
    if level <= 6:
        return "grades_1_6"
    return "grades_7_8" if level <= 8 else "grades_9_10" if level <= 10 else "grades_11_plus"


# A pseudonym's prefix says what it names; refs a partner gives are unique within their
# case only, so theirs are keyed by the case too.
PREFIXES = {"case": "c", "student": "s", "recipient": "r", "person": "p", "school": "sch",
            "kit_seal": "k", "file": "f", "hash": "h", "trace": "t"}  # fmt: skip
PER_CASE = frozenset({"student", "recipient"})

_SUBJECT_KEY = re.compile(r"^([a-z_]{1,32}):([A-Za-z0-9_-]{1,64})(?::([A-Za-z0-9_-]{1,64}))?$")


class Pseudonymiser:
    """Keyed pseudonyms: the same value always maps to the same token under one analysis
    key (so analyses join, REST and command line alike), and nothing is learnt across keys.

    HMAC-SHA256 of "kind:value". Students' refs are only unique within a case, so theirs
    are keyed by case too.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("an analysis key has at least 16 bytes")
        self._key = key
        self._memo: dict[str, str] = {}

    def name(self, kind: str, value: str) -> str:
        """The pseudonym of `value` in namespace `kind` (e.g. person, case, student)."""
        text = f"{kind}:{value}"
        found = self._memo.get(text)
        if found is None:
            digest = hmac.digest(self._key, text.encode(), "sha256").hex()[:20]
            found = f"{PREFIXES.get(kind, kind[0])}-{digest}"
            if len(self._memo) > 200_000:
                self._memo.clear()
            self._memo[text] = found
        return found

    def subject_key(self, key: str) -> str | dict[str, bool]:
        """A data subject's key id with its case and student renamed as elsewhere."""
        parsed = _SUBJECT_KEY.match(key)
        if parsed is None:
            return withheld()
        kind, case, ref = parsed.groups()
        renamed = f"{kind}:{self.name('case', case)}"
        if not ref:
            return renamed
        if kind == "recipient":  # named as its recipient_ref is, so erasures join
            return f"{renamed}:{self.name('recipient', f'{case}:{ref}')}"
        return f"{renamed}:{self.name('student', f'{case}:{ref}')}"

    def value(self, marker: FieldClass, value: Any, case_id: str) -> Any:
        """The pseudonym or band of one value of a field of this class and kind."""
        kind = marker.kind or marker.data_class.value
        if kind == "age" and isinstance(value, int):
            return age_band(value)
        if kind == "grade" and isinstance(value, str):
            return grade_band(value)
        if kind == "choice":  # a code from the protocol's closed list: already a band
            return value
        if not isinstance(value, str):
            return withheld()
        if kind in PER_CASE:
            return self.name(kind, f"{case_id}:{value}")
        if kind == "subject_key":
            return self.subject_key(value)
        return self.name(kind, value)


_NO_ROW: Mapping[DataClass, Treatment] = types.MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who the data is disclosed to: a role's row of the table, and analysts' pseudonyms."""

    role: Role
    pseudonyms: Pseudonymiser | None = None

    @classmethod
    def of(cls, principal: Principal, pseudonyms: Pseudonymiser | None = None) -> Viewer:
        """The reader a verified caller is."""
        return cls(principal.role, pseudonyms)

    def row(self) -> Mapping[DataClass, Treatment]:
        """This reader's row of the table (none for a role without one: all withheld)."""
        return POLICY.get(self.role, _NO_ROW)

    def treatment(self, data_class: DataClass) -> Treatment:
        """What this reader gets of a class (withheld for a role without a row)."""
        return self.row().get(data_class, HIDDEN)

    def opens(self, *classes: DataClass) -> bool:
        """True when any of these classes is shown to this reader in clear."""
        return any(self.treatment(c) is SHOWN for c in classes)


def disclose(
    viewer: Viewer, model: type[BaseModel], data: Mapping[str, Any], case_id: str = ""
) -> dict[str, Any]:
    """A copy of `data` (the JSON form of `model`) as `viewer` may see it.

    Each declared field is shown, pseudonymised or withheld by its class; a model nested in
    a field is walked (a list of them, or dict values, item by item); a field `model` does not
    declare, or one without a class, is withheld. A sealed value (personal data not opened)
    is never shown: it is withheld whatever the table says. `case_id` keys students'
    pseudonyms.
    """
    out: dict[str, Any] = {}
    plan = _disclosure_plan(model)
    row = viewer.row()  # read at every use: the table is data, and may change
    for name, value in data.items():
        marker, nested = plan.get(name, _UNDECLARED)
        if marker is not None:
            treatment = row.get(marker.data_class, HIDDEN)
            if treatment is SHOWN and not isinstance(value, dict):
                out[name] = value  # what _value gives, without the call (most values)
            else:
                out[name] = _value(viewer, treatment, marker, value, case_id)
        elif nested is not None:
            out[name] = _nested(viewer, nested, value, case_id)
        else:
            out[name] = withheld()
    return out


_UNDECLARED: tuple[None, None] = (None, None)


@functools.cache
def _disclosure_plan(
    model: type[BaseModel],
) -> dict[str, tuple[FieldClass | None, type[BaseModel] | None]]:
    """Each field's (class, nested model), worked out once per model: looking both up for
    every value disclosed (marker parsing, typing introspection) was most of a replay's
    time. The table itself is read at every use (it is data, and may change)."""
    return {
        name: (field_class(field), nested_model(field.annotation))
        for name, field in model.model_fields.items()
    }


def _nested(viewer: Viewer, model: type[BaseModel], value: Any, case_id: str) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_nested(viewer, model, item, case_id) for item in value]
    if isinstance(value, dict):
        if _is_placeholder(value):
            return value if value == {"erased": True} else withheld()
        return disclose(viewer, model, value, case_id)
    return withheld()


def _is_placeholder(value: dict[str, Any]) -> bool:
    return value.get(SEALED_MARK) is not None or value in ({"erased": True}, {"withheld": True})


def _value(
    viewer: Viewer, treatment: Treatment, marker: FieldClass, value: Any, case_id: str
) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and _is_placeholder(value):
        # Sealed (not opened for this reader), erased, or already withheld.
        return value if treatment is SHOWN and value == {"erased": True} else withheld()
    if treatment is SHOWN:
        return value
    if treatment is HIDDEN or viewer.pseudonyms is None:
        return withheld()
    if isinstance(value, list):
        return [_value(viewer, treatment, marker, item, case_id) for item in value]
    if isinstance(value, dict):
        if marker.kind == "choice":  # answers: codes keyed by the protocol's field ids
            return value
        return {k: _value(viewer, treatment, marker, v, case_id) for k, v in value.items()}
    return viewer.pseudonyms.value(marker, value, case_id)


def policy_markdown() -> str:
    """The table as Markdown (docs/disclosure.md holds it; a test keeps them equal)."""
    marks = {SHOWN: "✓", PSEUDO: "p", HIDDEN: "–"}  # noqa: RUF001 (as DOMAIN.md writes it)
    roles = list(POLICY)
    lines = [
        "| class (examples) | " + " | ".join(role.value for role in roles) + " |",
        "| --- |" + " --- |" * len(roles),
    ]
    for data_class in DataClass:
        cells = " | ".join(marks[POLICY[role][data_class]] for role in roles)
        lines.append(f"| {data_class.value} ({CLASS_EXAMPLES[data_class]}) | {cells} |")
    return "\n".join(lines) + "\n"


def policy_document() -> dict[str, Any]:
    """The table as data: what `GET /v1/disclosure` answers and the docs show."""
    return {
        "version": POLICY_VERSION,
        "placeholder": withheld(),
        "erased": {"erased": True},
        "classes": {c.value: CLASS_EXAMPLES[c] for c in DataClass},
        "treatments": [t.value for t in Treatment],
        "roles": {
            role.value: {c.value: t.value for c, t in row.items()} for role, row in POLICY.items()
        },
    }
