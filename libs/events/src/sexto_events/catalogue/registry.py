"""The catalogue: every event type declared once, versioned, with upcasters between versions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from sexto_events.catalogue.base import EventData, Upcaster, personal_spec
from sexto_events.errors import EventSchemaError, UnknownEventType

E = TypeVar("E", bound=type[EventData])

_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")


def schema_problems(error: ValidationError) -> list[str]:
    """Readable, value-free descriptions of a pydantic validation error."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        problems.append(f"{where}: {item['msg']}")
    return problems


class Catalogue:
    """A registry of event types; the service-wide one is `CATALOGUE`."""

    def __init__(self) -> None:
        self._types: dict[str, type[EventData]] = {}
        self._upcasters: dict[str, tuple[str, Upcaster]] = {}

    def declare(self, context: str, name: str, version: int) -> Callable[[E], E]:
        """Class decorator declaring an event type once."""

        def register(cls: E) -> E:
            if not (_TOKEN.match(context) and _TOKEN.match(name)) or version < 1:
                raise ValueError(f"bad event declaration {context}.{name}.v{version}")
            cls.event_context, cls.event_name, cls.type_version = context, name, version
            type_name = cls.type_name()
            if type_name in self._types:
                raise ValueError(f"event type {type_name} declared twice")
            self._types[type_name] = cls
            return cls

        return register

    def upcaster(
        self, old: type[EventData], new: type[EventData]
    ) -> Callable[[Upcaster], Upcaster]:
        """Declare the function turning stored `old` data into `new` data (sealed form)."""

        def register(fn: Upcaster) -> Upcaster:
            if (old.event_context, old.event_name) != (new.event_context, new.event_name):
                raise ValueError("an upcaster links two versions of the same event")
            if new.type_version != old.type_version + 1:
                raise ValueError("an upcaster goes from version N to N+1")
            self._upcasters[old.type_name()] = (new.type_name(), fn)
            return fn

        return register

    def resolve(self, type_name: str) -> type[EventData]:
        """The class declared for `type_name`."""
        try:
            return self._types[type_name]
        except KeyError:
            raise UnknownEventType(type_name) from None

    def is_current(self, cls: type[EventData]) -> bool:
        """True when no newer version supersedes this type (only current types are written)."""
        return cls.type_name() not in self._upcasters

    def upcast(self, type_name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Follow upcasters from a stored type to the current version."""
        self.resolve(type_name)
        while type_name in self._upcasters:
            type_name, fn = self._upcasters[type_name]
            data = fn(dict(data))
        return type_name, data

    def validate(self, type_name: str, data: dict[str, Any]) -> EventData:
        """Build the typed data of `type_name`, raising EventSchemaError with every problem."""
        cls = self.resolve(type_name)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EventSchemaError(type_name, schema_problems(exc)) from None

    def types(self) -> list[type[EventData]]:
        """Every declared type, sorted by type name."""
        return [self._types[k] for k in sorted(self._types)]

    def snapshot(self) -> dict[str, Any]:
        """The JSON-Schema snapshot of the catalogue, committed and compared by the tests."""
        out: dict[str, Any] = {}
        for cls in self.types():
            entry: dict[str, Any] = {
                "subject": f"cases.<territory>.<case>.{cls.subject_suffix()}",
                "schema": cls.model_json_schema(),
            }
            if cls.type_name() in self._upcasters:
                entry["upcasts_to"] = self._upcasters[cls.type_name()][0]
            out[cls.type_name()] = entry
        return out


def personal_field_names(cls: type[EventData]) -> list[str]:
    """Names of the top-level personal fields of a type (for documentation and tests)."""
    return [
        name
        for name, field in cls.model_fields.items()
        if personal_spec(field.json_schema_extra) is not None
    ]


CATALOGUE = Catalogue()
