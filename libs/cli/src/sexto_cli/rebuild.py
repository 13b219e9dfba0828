"""`sexto rebuild SERVICE`: drop a service's read models and replay the log into them.

Uses the services' own projection definitions and consumers. Reactors (projections whose
effect is an event, not a table) are left alone: replaying them would only find their
events already recorded. Run it with the service stopped, or accept that the running
service resumes on the recreated durable consumer once the rebuild has begun.
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

from sexto_cli.session import Session

SERVICES: dict[str, ServiceDefinition] = {
    d.name: d for d in (INTAKE, EVALUATION, ESCALATION, NOTIFICATION)
}


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """One projection replayed: its durable consumer and the last stream sequence applied."""

    durable: str
    last_seq: int


async def rebuild_service(
    session: Session, name: str, progress: Callable[[str, int, int], None] | None = None
) -> tuple[list[Rebuilt], list[str]]:
    """(rebuilt projections, reactors skipped) of one service."""
    definition = SERVICES[name]
    schema = checked_schema(definition.name)
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
