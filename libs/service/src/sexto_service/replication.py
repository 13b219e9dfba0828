"""Readiness of a replicated log: the stream has its replicas, every server fsyncs always.

An acknowledgement from an R3 stream means a majority stored the event; it means "on disk"
only if each of those servers fsyncs before answering (Jepsen, NATS 2.12.1: the default lazy
fsync lost acknowledged writes). Neither is visible to a client, so readiness asks: the
stream's info for its replicas, and every server's monitoring `/varz`, whose
`jetstream.config.sync_always` is true only under `sync_interval: always`.
"""

from __future__ import annotations

from typing import Any

import httpx


class ReplicasMissing(LookupError):
    """The stream lacks replicas, a leader, or current followers."""


class FsyncNotAlways(LookupError):
    """A server is unreachable, or does not fsync every write."""


def replica_problems(wanted: int, info: dict[str, Any]) -> list[str]:
    """What keeps a stream (its STREAM.INFO answer) from `wanted` replicas with a current
    majority: a follower catching up leaves writes acknowledged by the others, so it is
    no reason to stop answering."""
    configured = int(info.get("config", {}).get("num_replicas", 1))
    if configured != wanted:
        return [f"stream has {configured} replicas, settings ask for {wanted}"]
    if wanted == 1:
        return []
    cluster = info.get("cluster", {})
    if not cluster.get("leader"):
        return ["stream has no leader"]
    followers = cluster.get("replicas", [])
    if len(followers) != wanted - 1:
        return [f"stream has {len(followers) + 1} of {wanted} peers"]
    current = 1 + sum(1 for r in followers if r.get("current"))
    if current <= wanted // 2:
        return [f"only {current} of {wanted} replicas are current"]
    return []


def fsync_problem(varz: dict[str, Any]) -> str | None:
    """Why a server (its /varz) does not fsync every write, or None if it does."""
    name = varz.get("server_name", "?")
    config = varz.get("jetstream", {}).get("config")
    if not config:
        return f"server {name} has no JetStream"
    if config.get("sync_always") is not True:
        return f"server {name} does not run with sync_interval: always"
    return None


def monitor_urls(setting: str) -> list[str]:
    """The monitoring endpoints of a comma-separated setting."""
    return [part.strip().rstrip("/") for part in setting.split(",") if part.strip()]


async def fsync_problems(urls: list[str], timeout: float = 1.5) -> list[str]:
    """Ask every server's /varz; each one unreachable or not fsyncing always is a problem."""
    problems = []
    async with httpx.AsyncClient(timeout=timeout) as client:
        for url in urls:
            try:
                answer = await client.get(f"{url}/varz")
                answer.raise_for_status()
            except httpx.HTTPError as exc:
                problems.append(f"{url}/varz unreachable ({type(exc).__name__})")
                continue
            problem = fsync_problem(answer.json())
            if problem is not None:
                problems.append(problem)
    return problems
