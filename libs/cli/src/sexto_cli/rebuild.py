"""`sexto rebuild SERVICE`: drop a service's read models and replay the log into them.

Uses the services' own projection definitions and consumers. Reactors (projections whose
effect is an event, not a table) are left alone: replaying them would only find their
events already recorded. Run it with the service stopped: while the rebuild runs, a
running service would serve dropped or half-filled tables. The rebuild refuses when the
service's durable consumers have pull requests waiting (the service is running), unless
forced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sexto_escalation.bootstrap import DEFINITION as ESCALATION
from sexto_evaluation.bootstrap import DEFINITION as EVALUATION
from sexto_events.consumer import ConsumerSettings, ProjectionConsumer, consumer_info
from sexto_events.db import checked_schema, ensure_schema
from sexto_events.legal.scan import stream_state
from sexto_events.reactions import Reactor
from sexto_events.service import ServiceDefinition
from sexto_events.stream import StreamSpec
from sexto_intake.bootstrap import DEFINITION as INTAKE
from sexto_notification.bootstrap import DEFINITION as NOTIFICATION

from sexto_cli.session import CliError, Session

SERVICES: dict[str, ServiceDefinition] = {
    d.name: d for d in (INTAKE, EVALUATION, ESCALATION, NOTIFICATION)
}


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """One projection replayed: its durable consumer and the last stream sequence applied."""

    durable: str
    last_seq: int


class ServiceRunning(CliError):
    """The service reads its durable consumers: rebuilding under it would serve bad tables."""


async def _readers(session: Session, stream: str, durable: str) -> int:
    """Pull requests waiting on the durable consumer (0 when it does not exist), sampled a
    few times: a running service is between two pulls only for a moment."""
    most = 0
    for attempt in range(3):
        if attempt:
            await asyncio.sleep(0.2)
        most = max(
            most, int((await consumer_info(session.nc, stream, durable)).get("num_waiting", 0))
        )
    return most


async def rebuild_service(
    session: Session,
    name: str,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    force: bool = False,
) -> tuple[list[Rebuilt], list[str]]:
    """(rebuilt projections, reactors skipped) of one service; refused while it runs."""
    definition = SERVICES[name]
    schema = checked_schema(definition.name)
    if not force:
        for projection in definition.projections(session.store):
            if isinstance(projection, Reactor):
                continue
            durable = f"{definition.name}-{projection.name}"
            read_from: StreamSpec = getattr(projection, "stream", session.spec)
            waiting = await _readers(session, read_from.name, durable)
            if waiting:
                raise ServiceRunning(
                    f"{name} is running ({durable} has {waiting} pull request(s) waiting): "
                    f"stop the {name} service first, then rebuild; --force rebuilds anyway, "
                    "and the running service serves dropped or half-filled tables meanwhile"
                )
    await ensure_schema(session.pool, schema)
    rebuilt: list[Rebuilt] = []
    skipped: list[str] = []
    for projection in definition.projections(session.store):
        durable = f"{definition.name}-{projection.name}"
        if isinstance(projection, Reactor):
            skipped.append(durable)
            continue
        source: StreamSpec = getattr(projection, "stream", session.spec)
        consumer = ProjectionConsumer(
            nc=session.nc,
            pool=session.pool,
            decoder=session.store.decoder,
            schema=schema,
            durable=durable,
            projection=projection,
            stream=source.name,
            filter_subject=f"{source.subject_root}.>",
            settings=ConsumerSettings(batch=1024),
        )
        await consumer.setup()  # the runtime's tables exist before a first rebuild clears them
        await consumer.rebuild()
        task = asyncio.create_task(consumer.run())
        try:
            last = await _caught_up(session, consumer, source, progress)
        finally:
            consumer.stop()
            await task
        rebuilt.append(Rebuilt(durable, last))
    return rebuilt, skipped


async def _caught_up(
    session: Session,
    consumer: ProjectionConsumer,
    source: StreamSpec,
    progress: Callable[[str, int, int], None] | None,
) -> int:
    """Wait until the consumer has applied and acknowledged everything there was."""
    total = (await stream_state(session.nc, source)).last_seq
    while True:
        info = await consumer_info(session.nc, source.name, consumer.durable)
        done = int(info["ack_floor"]["stream_seq"])
        if progress is not None:
            progress(consumer.durable, done, total)
        if info["num_pending"] == 0 and info["num_ack_pending"] == 0:
            return done
        await asyncio.sleep(0.1)
