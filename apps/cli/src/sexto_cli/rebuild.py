"""`sexto rebuild SERVICE`: drop a service's read models and replay the log into them.

Uses the services' own read models (found by their public entry points, `sexto.services`)
and the consumer runtime. Reactors (whose effect is an event, not a table) are left alone:
replaying them would only find their events already recorded. Run it with the service
stopped: while the rebuild runs, a running service would serve dropped or half-filled
tables. The rebuild refuses, unless
forced, when a durable consumer of the service has pull requests waiting (a running
service, idle) or delivered or acknowledged anything in the last ACTIVE_S seconds (a
running service catching up with no-wait pulls has none waiting). A rebuild that makes no
progress for `stall_s` (the projection cannot apply an event, PostgreSQL away) fails,
naming where it stopped, instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from sexto_events.consumer import ConsumerSettings, DurableConsumer, consumer_info
from sexto_events.db import checked_schema
from sexto_events.stream import StreamSpec
from sexto_legal.scan import stream_state
from sexto_service.runtime import ServiceDefinition, migrate_service

from sexto_cli.failures import CliError
from sexto_cli.session import Session

SERVICE_ENTRY_POINTS = "sexto.services"


def installed_services() -> dict[str, ServiceDefinition]:
    """The services installed beside the command line, by their public entry point: each
    service's package declares its definition in the group `sexto.services`."""
    found = {}
    for entry in entry_points(group=SERVICE_ENTRY_POINTS):
        definition = entry.load()
        if isinstance(definition, ServiceDefinition):
            found[definition.name] = definition
    return dict(sorted(found.items()))


SERVICES = installed_services()


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """One projection replayed: its durable consumer and the last stream sequence applied."""

    durable: str
    last_seq: int


ACTIVE_S = 10.0  # a durable that delivered or was acknowledged this recently is in use
STALL_S = 300.0  # longer than a failing event's retries before it is parked (about 160 s)


class ServiceRunning(CliError):
    """The service reads its durable consumers: rebuilding under it would serve bad tables."""


class RebuildStalled(CliError):
    """The projection made no progress: an event it cannot apply, or its database away."""


_FRACTION = re.compile(r"(\.\d{6})\d*")


def _server_time(value: object) -> datetime | None:
    """An RFC 3339 time from the server (nanoseconds cut to microseconds), None if absent."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _in_use(info: dict[str, Any]) -> str | None:
    """Why the durable consumer looks in use by a running service, or None."""
    waiting = int(info.get("num_waiting", 0))
    if waiting:
        return f"has {waiting} pull request(s) waiting"
    now = _server_time(info.get("ts"))
    for part in ("delivered", "ack_floor"):
        when = _server_time((info.get(part) or {}).get("last_active"))
        if now is not None and when is not None and (now - when).total_seconds() < ACTIVE_S:
            verb = "delivered" if part == "delivered" else "was acknowledged"
            return f"{verb} events {(now - when).total_seconds():.1f} s ago"
    return None


async def _readers(session: Session, stream: str, durable: str) -> str | None:
    """Why the durable consumer is in use (None when it is not, or does not exist), sampled
    a few times: a running service is between two pulls only for a moment."""
    for attempt in range(3):
        if attempt:
            await asyncio.sleep(0.2)
        info = await consumer_info(session.nc, stream, durable)
        if "error" in info:
            return None
        reason = _in_use(info)
        if reason is not None:
            return reason
    return None


async def rebuild_service(
    session: Session,
    name: str,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    force: bool = False,
    stall_s: float = STALL_S,
) -> tuple[list[Rebuilt], list[str]]:
    """(rebuilt read models, reactors skipped) of one service; refused while it runs."""
    definition = SERVICES[name]
    schema = checked_schema(definition.name)
    read_models = definition.read_models()
    if not force:
        for read_model in read_models:
            durable = f"{definition.name}-{read_model.name}"
            read_from: StreamSpec = getattr(read_model, "stream", session.spec)
            in_use = await _readers(session, read_from.name, durable)
            if in_use:
                raise ServiceRunning(
                    f"{name} looks running ({durable} {in_use}): "
                    f"stop the {name} service first, then rebuild; --force rebuilds anyway, "
                    "and the running service serves dropped or half-filled tables meanwhile"
                )
    # The runtime's tables (a rebuild clears its own rows there) at their head revision.
    await migrate_service(definition, session.settings.database_url)
    rebuilt: list[Rebuilt] = []
    skipped = [f"{definition.name}-{r.name}" for r in definition.reactors(session.store)]
    for read_model in read_models:
        durable = f"{definition.name}-{read_model.name}"
        source: StreamSpec = getattr(read_model, "stream", session.spec)
        consumer = DurableConsumer(
            nc=session.nc,
            pool=session.pool,
            decoder=session.store.decoder,
            schema=schema,
            durable=durable,
            handler=read_model,
            stream=source.name,
            filter_subject=f"{source.subject_root}.>",
            settings=ConsumerSettings(batch=1024),
        )
        await consumer.rebuild()
        task = asyncio.create_task(consumer.run())
        try:
            last = await _caught_up(session, consumer, task, source, progress, stall_s)
        finally:
            consumer.stop()
            await task
        rebuilt.append(Rebuilt(durable, last))
    return rebuilt, skipped


async def _caught_up(
    session: Session,
    consumer: DurableConsumer,
    task: asyncio.Task[None],
    source: StreamSpec,
    progress: Callable[[str, int, int], None] | None,
    stall_s: float,
) -> int:
    """Wait until the consumer has applied and acknowledged everything there was; raise
    RebuildStalled when nothing moves for `stall_s` seconds or the consumer stops."""
    loop = asyncio.get_running_loop()
    total = (await stream_state(session.nc, source)).last_seq
    seen: tuple[int, int] | None = None
    moved = loop.time()
    while True:
        info = await consumer_info(session.nc, source.name, consumer.durable)
        done = int(info["ack_floor"]["stream_seq"])
        if progress is not None:
            progress(consumer.durable, done, total)
        if info["num_pending"] == 0 and info["num_ack_pending"] == 0:
            return done
        position = (done, int(info["delivered"]["stream_seq"]))
        if position != seen:
            seen, moved = position, loop.time()
        if task.done() or loop.time() - moved > stall_s:
            why = "its consumer stopped" if task.done() else f"nothing moved for {stall_s:.0f} s"
            raise RebuildStalled(
                f"the rebuild of {consumer.durable} stalled after stream sequence {done} of "
                f"{total} ({why}): an event it cannot apply, or its database unreachable; see "
                f"the service's logs and dead letters, fix the cause, then rebuild again (the "
                f"tables are incomplete until then)"
            )
        await asyncio.sleep(0.1)
