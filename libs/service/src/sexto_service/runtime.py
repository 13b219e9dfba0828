"""What every service shares: the lifespan wiring NATS, PostgreSQL, the store and consumers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from nats.aio.client import Client
from opentelemetry.sdk.trace import TracerProvider
from sexto_events.connection import connect
from sexto_events.consumer import ConsumerSettings, DurableConsumer, EventHandler, consumer_info
from sexto_events.db import checked_schema, create_pool
from sexto_events.disclosure import Pseudonymiser
from sexto_events.migrate import migrate_keys, migrate_runtime, upgrade
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.settings import EventLogSettings
from sexto_events.store import EventStore
from sexto_events.stream import StreamSpec

from sexto_service import idempotency, telemetry
from sexto_service.auth.tokens import AuthSettings, TokenVerifier
from sexto_service.disclosure import disclosure_router
from sexto_service.health import Check, health_router
from sexto_service.http_guard import InputGuard
from sexto_service.lag import refresh_consumer_metrics
from sexto_service.openapi import document_problems
from sexto_service.problems import ServerErrors, install_problem_handlers
from sexto_service.ratelimit import RateLimitSettings, WriteLimiter
from sexto_service.replication import (
    FsyncNotAlways,
    ReplicasMissing,
    fsync_problems,
    monitor_urls,
    replica_problems,
)

log = structlog.get_logger("sexto.service")


@dataclass
class ServiceRuntime:
    """The live connections of a running service, kept on `app.state.runtime`."""

    name: str
    settings: EventLogSettings
    nc: Client
    pool: asyncpg.Pool
    vault: KeyVault
    store: EventStore
    # The service's own spans (its `service.name`), over the process's export pipeline.
    tracer_provider: TracerProvider
    stores: dict[str, EventStore] = field(default_factory=dict)
    # Analysts' keyed pseudonyms (the analysis key of the settings), one per process.
    pseudonyms: Pseudonymiser | None = None
    consumers: list[DurableConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Periodic work of the service (deadline watchers); cancelled at stop.
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # The durables whose read model has once taken all the stream held for them (readiness).
    caught_up: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ServiceDefinition:
    """What distinguishes one service: its name, schema, routes, read models and reactors."""

    name: str
    title: str
    description: str
    routers: Sequence[APIRouter] = ()
    # Projections keeping read tables, rebuilt from the log at will (`sexto rebuild`).
    read_models: Callable[[], Sequence[EventHandler]] = lambda: ()
    # Given the CASES store, so they record their outcome as events; never rebuilt.
    reactors: Callable[[EventStore], Sequence[EventHandler]] = lambda _: ()
    # Streams besides CASES this service writes or reads (e.g. the directory).
    streams: Sequence[StreamSpec] = ()
    # Service-specific set-up: tables of its own, exception handlers.
    on_start: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    # Alembic scripts (`package:folder`) of the service's tables not derived from the log.
    migrations: str | None = None


async def migrate_service(definition: ServiceDefinition, dsn: str) -> None:
    """The tables not derived from the log at their head revision: the personal-data keys,
    the consumer runtime's and the Idempotency-Key records in the service's schema, and the
    service's own if it has any."""
    schema = checked_schema(definition.name)
    await migrate_keys(dsn)
    await migrate_runtime(dsn, schema)
    await upgrade(
        dsn,
        idempotency.IDEMPOTENCY_SCRIPTS,
        schema=schema,
        version_table=idempotency.IDEMPOTENCY_VERSION_TABLE,
    )
    if definition.migrations is not None:
        await upgrade(dsn, definition.migrations, schema=schema)


async def start_runtime(
    definition: ServiceDefinition, settings: EventLogSettings, provider: TracerProvider
) -> ServiceRuntime:
    """Connect to NATS and PostgreSQL, check the stream, migrate, start consumers."""
    tracer = provider.get_tracer("sexto.events")
    schema = checked_schema(definition.name)
    nc = await connect(
        settings.nats_url, name=f"sexto-{definition.name}", max_reconnect_attempts=-1
    )
    pool = await create_pool(settings.database_url)
    await migrate_service(definition, settings.database_url)
    vault = KeyVault(pool, settings.master_key_bytes(), lease_seconds=settings.key_lease_s)
    spec = StreamSpec(settings.stream_name, settings.subject_root, settings.stream_replicas)
    store = EventStore(
        nc,
        source=f"sexto/{definition.name}",
        codec=PersonalDataCodec(vault),
        spec=spec,
        tracer=tracer,
    )
    await store.ensure_stream()
    runtime = ServiceRuntime(definition.name, settings, nc, pool, vault, store, provider)
    runtime.pseudonyms = settings.pseudonymiser()
    runtime.stores[spec.name] = store
    for declared in definition.streams:
        # Every stream of a cluster is replicated like the case log.
        extra = replace(declared, replicas=settings.stream_replicas)
        other = EventStore(nc, source=store.source, codec=store.codec, spec=extra, tracer=tracer)
        await other.ensure_stream()
        runtime.stores[extra.name] = other
    for handler in (*definition.read_models(), *definition.reactors(store)):
        source: StreamSpec = getattr(handler, "stream", spec)
        # A handler may follow a part of the events only (`subjects` under the stream's
        # root, e.g. "*.*.legal.>"): the server sends it nothing else to fetch, decode and
        # checkpoint; such a handler does not depend on the order of a case's events.
        subjects: str | None = getattr(handler, "subjects", None)
        consumer = DurableConsumer(
            nc=nc,
            pool=pool,
            decoder=store.decoder,
            schema=schema,
            durable=f"{definition.name}-{handler.name}",
            handler=handler,
            stream=source.name,
            filter_subject=f"{source.subject_root}.{subjects or '>'}",
            settings=ConsumerSettings(),
            chained=subjects is None,
            tracer=tracer,
        )
        await consumer.setup()
        runtime.consumers.append(consumer)
        runtime.tasks.append(asyncio.create_task(consumer.run()))
    if definition.on_start is not None:
        await definition.on_start(runtime)
    freeze_start_up()
    log.info("service started", service=definition.name)
    return runtime


def freeze_start_up() -> None:
    """Leave what start-up made out of the garbage collector's full collections: modules,
    models, tables (about 150-170 thousand objects in intake) live as long as the process,
    and walking them took 0.05-0.2 s a collection, a pause that fell on whichever request
    or event was running (the tail of every latency; spans waiting for export made such
    collections frequent). Once per process: the tests start many services in one, and
    would otherwise keep each later one's cyclic garbage for ever."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


async def rebuild_read_model(runtime: ServiceRuntime, name: str) -> DurableConsumer:
    """Stop one read model's consumer, rebuild its tables from the log, restart it."""
    index = next(i for i, c in enumerate(runtime.consumers) if c.handler.name == name)
    consumer = runtime.consumers[index]
    consumer.stop()
    await runtime.tasks[index]
    await consumer.rebuild()
    runtime.tasks[index] = asyncio.create_task(consumer.run())
    return consumer


async def stop_runtime(runtime: ServiceRuntime) -> None:
    """Stop background work and consumers after their batch, then close connections."""
    for task in runtime.background:
        task.cancel()
    if runtime.background:
        # Bounded: a task that swallows its cancellation must not hold the service's stop.
        _, stuck = await asyncio.wait(runtime.background, timeout=10)
        if stuck:
            log.warning("background work did not stop", tasks=len(stuck))
    for consumer in runtime.consumers:
        consumer.stop()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 10)
    for each in runtime.stores.values():
        await each.close()
    with contextlib.suppress(Exception):
        await runtime.nc.drain()
    await runtime.pool.close()
    runtime.tracer_provider.force_flush()
    log.info("service stopped", service=runtime.name)


def readiness_checks(app: FastAPI) -> dict[str, Check]:
    """NATS connected, the stream answering, the database answering, the consumers running
    and, once, caught up with the log."""
    runtime: ServiceRuntime | None = getattr(app.state, "runtime", None)

    async def nats_check() -> None:
        if runtime is None or not runtime.nc.is_connected:
            raise ConnectionError("NATS not connected")

    async def stream_check() -> None:
        assert runtime is not None
        name = runtime.store.spec.name
        info = json.loads((await runtime.nc.request(f"$JS.API.STREAM.INFO.{name}", b"", 2)).data)
        if "error" in info:
            raise LookupError(info["error"].get("description"))
        problems = replica_problems(runtime.store.spec.replicas, info)
        if problems:
            log.warning("stream not replicated", problems=problems)
            raise ReplicasMissing("; ".join(problems))

    async def fsync_check() -> None:
        assert runtime is not None
        problems = await fsync_problems(monitor_urls(runtime.settings.nats_monitor_urls))
        if problems:
            log.warning("log servers not durable", problems=problems)
            raise FsyncNotAlways("; ".join(problems))

    async def db_check() -> None:
        assert runtime is not None
        async with runtime.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def consumers_check() -> None:
        assert runtime is not None
        stopped = [c.durable for c, t in zip(runtime.consumers, runtime.tasks, strict=True)
                   if t.done()]  # fmt: skip
        if stopped:
            raise RuntimeError(f"consumers stopped: {stopped}")
        ended = [t.get_name() for t in runtime.background if t.done()]
        if ended:
            raise RuntimeError(f"background work stopped: {ended}")

    async def read_models_check() -> None:
        # Ready once each read model has taken what the stream held for it (then for good):
        # a service restarted behind its log would otherwise answer from stale tables (a
        # certified intervener refused as "not certified" by a directory not caught up).
        assert runtime is not None
        behind = []
        for consumer in runtime.consumers:
            if consumer.durable in runtime.caught_up:
                continue
            info = await consumer_info(runtime.nc, consumer.stream, consumer.durable)
            if "error" in info:
                raise LookupError(info["error"].get("description"))
            if info.get("num_pending", 0) == 0 and info.get("num_ack_pending", 0) == 0:
                runtime.caught_up.add(consumer.durable)
            else:
                behind.append(consumer.durable)
        if behind:
            raise RuntimeError(f"read models catching up: {behind}")

    return {
        "nats": nats_check,
        "stream": stream_check,
        "fsync": fsync_check,
        "database": db_check,
        "consumers": consumers_check,
        "read_models": read_models_check,
    }


def build_app(
    definition: ServiceDefinition,
    settings: EventLogSettings | None = None,
    auth: AuthSettings | None = None,
) -> FastAPI:
    """The FastAPI app of a service; nothing connects until the lifespan starts."""
    telemetry.configure_logs()
    provider = telemetry.tracer_provider(definition.name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.verifier = TokenVerifier(auth or AuthSettings())
        app.state.runtime = await start_runtime(
            definition, settings or EventLogSettings(), provider
        )
        try:
            yield
        finally:
            await stop_runtime(app.state.runtime)

    app = FastAPI(title=definition.title, description=definition.description, lifespan=lifespan)
    app.state.write_limiter = WriteLimiter.from_settings(RateLimitSettings())
    app.add_middleware(InputGuard)
    app.add_middleware(ServerErrors)  # added last: the outermost of ours
    install_problem_handlers(app)
    app.include_router(
        health_router(
            lambda: readiness_checks(app),
            before_scrape=lambda: refresh_consumer_metrics(getattr(app.state, "runtime", None)),
        )
    )
    app.include_router(disclosure_router)
    for router in definition.routers:
        app.include_router(router)
    # The routes as declared (the app keeps included routers whole, not their routes).
    routes = [r for router in definition.routers for r in router.routes if isinstance(r, APIRoute)]
    for route in routes:
        # One Idempotency-Key mechanism for every write: a router made without it is a bug.
        if (route.methods or set()) & idempotency.WRITE_METHODS and not isinstance(
            route, idempotency.IdempotentRoute
        ):
            raise TypeError(
                f"{sorted(route.methods or ())} {route.path}: make its router with "
                "route_class=IdempotentRoute (sexto_service.idempotency)"
            )
    document_problems(app, routes)
    telemetry.instrument_app(app, provider)
    return app
