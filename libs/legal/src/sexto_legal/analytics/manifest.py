"""The output folder's manifest: what the folder holds, up to which stream sequence, under
which analysis key (a fingerprint, never the key), and what each run wrote and withdrew.

It is written last, under a temporary name renamed over the old one: a run interrupted
before leaves the previous manifest, and the folder's committed runs, as they were.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sexto_events.disclosure import Pseudonymiser
from sexto_events.errors import EventLogError

MANIFEST = "manifest.json"
FORMAT = 1


class OtherAnalysisKey(EventLogError):
    """The output folder holds an export made under another analysis key."""


class NotAnExport(EventLogError):
    """The output folder is not empty and holds no export's manifest."""


class OtherPolicyVersion(EventLogError):
    """The output folder holds an export made under another disclosure policy version."""


def key_fingerprint(pseudonyms: Pseudonymiser) -> str:
    """A keyed token telling analysis keys apart without revealing them (a pseudonym of a
    fixed value under the key: one HMAC-SHA256, not invertible)."""
    return pseudonyms.name("analysis_key", "sexto-analytics-export")


@dataclass(frozen=True)
class RunRecord:
    """One run's partition: the sequences it read and the rows it wrote and withdrew;
    `retried`, earlier runs' unreadable events it read again (`unreadable` counts those
    still unreadable too)."""

    run: int
    from_seq: int
    to_seq: int
    events: int
    cases: int
    students: int
    unreadable: int
    withdrawn_students: int
    withdrawn_rows: int
    withdrawn_cells: int
    finished_at: str
    retried: int = 0


@dataclass
class Manifest:
    """What the folder holds."""

    key_fingerprint: str
    policy_version: str
    watermark: int = 0  # every event up to this stream sequence is exported
    runs: list[RunRecord] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)  # shredded students' pseudonyms
    # Sequences up to the watermark not exported yet (unreadable when read): every run
    # tries them again, so an event a newer catalogue can read is exported then.
    unreadable: list[int] = field(default_factory=list)

    @property
    def next_run(self) -> int:
        """The number of the next run."""
        return self.runs[-1].run + 1 if self.runs else 1

    def to_json(self) -> dict[str, Any]:
        """The manifest file's content."""
        return {"format": FORMAT, **asdict(self)}


def run_dir(out: Path, run: int) -> Path:
    """Where a committed run's partition lives."""
    return out / f"run-{run:05d}"


def read_manifest(out: Path, fingerprint: str, policy_version: str) -> Manifest:
    """The folder's manifest (a new one for an empty or missing folder); refuses a folder
    of another analysis key or disclosure policy version, or a non-empty folder that is not
    an export."""
    path = out / MANIFEST
    if not path.exists():
        if out.exists() and any(out.iterdir()):
            raise NotAnExport(
                f"{out} is not empty and holds no analytics export ({MANIFEST} is missing): "
                "give an empty or new folder, or the folder of an earlier export"
            )
        return Manifest(fingerprint, policy_version)
    try:
        raw = json.loads(path.read_text())
        runs = [RunRecord(**r) for r in raw["runs"]]
        manifest = Manifest(
            raw["key_fingerprint"], raw["policy_version"], int(raw["watermark"]), runs,
            list(raw["withdrawn"]), [int(seq) for seq in raw.get("unreadable", [])],
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAnExport(f"{path} cannot be read as an export's manifest ({exc})") from None
    if manifest.key_fingerprint != fingerprint:
        raise OtherAnalysisKey(
            f"{out} holds an export made under another analysis key (fingerprint "
            f"{manifest.key_fingerprint}; yours is {fingerprint}): its pseudonyms would not "
            "join with yours. Export to another folder, or run with the SEXTO_ANALYSIS_KEY "
            "that folder was made with"
        )
    if manifest.policy_version != policy_version:
        # Its partitions show what the folder's policy version gave analysts: partitions
        # added under another would mix columns and treatments in one table.
        raise OtherPolicyVersion(
            f"{out} holds an export made under disclosure policy version "
            f"{manifest.policy_version}, and this sexto applies version {policy_version}: "
            "its partitions would not agree with new ones. Export into a new (empty) "
            "folder, which re-exports the whole log under the current policy"
        )
    return manifest


def write_manifest(out: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically (a temporary file, flushed, renamed)."""
    part = out / f".{MANIFEST}.part"
    with part.open("w", encoding="utf-8") as sink:
        json.dump(manifest.to_json(), sink, indent=2)
        sink.write("\n")
        sink.flush()
        os.fsync(sink.fileno())
    os.replace(part, out / MANIFEST)
