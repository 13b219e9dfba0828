"""The description of a running `make run` stack, left in its data folder for other tools.

`<SEXTO_DATA_DIR>/stack.json` is written atomically (a private temporary file renamed over
it) once every service is ready, and removed when the supervisor stops. A supervisor
killed outright leaves it behind with the `pid` of a process that is gone: readers (the
`sexto` command line) ignore it then. Format 1, every field always present:

    {"format": 1, "pid": 4242, "started_at": "2026-11-02T14:30:00+00:00",
     "data_dir": "/abs/.data",
     "nats_url": "nats://127.0.0.1:14222",
     "database_url": "postgresql://postgres@127.0.0.1:15432/sexto",
     "issuer_key_file": "/abs/.data/issuer/ed25519.pem",
     "services": {"intake": "http://127.0.0.1:8001", ...}}

It holds no secret of its own; `database_url` is DATABASE_URL as given when one is set
(which may carry a password), and under `make run-cluster` `nats_url` carries the operator
user's password of that run, so the file is readable by its owner only (0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STACK_FILE = "stack.json"
FORMAT = 1


@dataclass(frozen=True)
class StackDescription:
    """Where a running stack's servers are."""

    data_dir: Path
    nats_url: str
    database_url: str
    issuer_key_file: Path
    services: dict[str, str]
    pid: int = field(default_factory=os.getpid)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def path(self) -> Path:
        """The stack file of this data folder."""
        return stack_file(self.data_dir)

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "format": FORMAT,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "data_dir": str(self.data_dir),
            "nats_url": self.nats_url,
            "database_url": self.database_url,
            "issuer_key_file": str(self.issuer_key_file),
            "services": dict(self.services),
        }


def stack_file(data_dir: Path) -> Path:
    """Where the stack file of a data folder is."""
    return data_dir / STACK_FILE


def write_stack_file(description: StackDescription) -> Path:
    """Write the stack file atomically: readers see the old file, or the whole new one."""
    target = description.path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".stack.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(description.to_json(), out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return target


def remove_stack_file(data_dir: Path, pid: int | None = None) -> bool:
    """Remove the stack file if it describes the stack of `pid` (this process by default):
    never the file of another supervisor that has since written its own. True if removed."""
    path = stack_file(data_dir)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(content, dict) or content.get("pid") != (pid or os.getpid()):
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True
