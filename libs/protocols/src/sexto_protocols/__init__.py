"""Protocols as data: one file per protocol version, identified by its content hash.

A case is handled under the version in force when it was reported; the version id (the
SHA-256 of the file's canonical JSON) is recorded on the events a protocol rule applies
to, so a replay years later uses the rules that were in force.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sexto_events.chain import canonical_json


@dataclass(frozen=True, slots=True)
class ChecklistStep:
    """One step of the intervener's checklist, in French and English."""

    id: str
    fr: str
    en: str


@dataclass(frozen=True, slots=True)
class ProtocolVersion:
    """A protocol version's definition and its content-hash id."""

    name: str
    version: int
    id: str
    checklist: tuple[ChecklistStep, ...]
    raw: dict[str, Any]

    def step(self, step_id: str) -> ChecklistStep | None:
        """The checklist step with this id, if the version has one."""
        return next((s for s in self.checklist if s.id == step_id), None)


def _parse(raw: dict[str, Any]) -> ProtocolVersion:
    steps = tuple(ChecklistStep(s["id"], s["fr"], s["en"]) for s in raw["checklist"])
    digest = hashlib.sha256(canonical_json(raw)).hexdigest()
    return ProtocolVersion(raw["name"], int(raw["version"]), f"sha256:{digest}", steps, raw)


@functools.cache
def all_versions() -> tuple[ProtocolVersion, ...]:
    """Every protocol version shipped with the library."""
    folder = resources.files("sexto_protocols") / "definitions"
    found = [
        _parse(json.loads(entry.read_text(encoding="utf-8")))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    ]
    return tuple(sorted(found, key=lambda p: (p.name, p.version)))


def current(name: str) -> ProtocolVersion:
    """The newest version of a protocol: what a new case is reported under."""
    versions = [p for p in all_versions() if p.name == name]
    if not versions:
        raise LookupError(f"no protocol named {name!r}")
    return versions[-1]


def by_id(version_id: str) -> ProtocolVersion | None:
    """The version a case recorded, by its content hash."""
    return next((p for p in all_versions() if p.id == version_id), None)
