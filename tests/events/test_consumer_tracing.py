"""The consumer runtime's spans and metrics on the real servers: a CONSUMER span per event,
child of the append's PRODUCER span; a batch span linking its producers; redeliveries,
processing time and dead letters counted per consumer."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from nats.aio.client import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY
from sexto_events.consumer import ConsumerSettings, DurableConsumer
from sexto_events.model import CaseRef, CaseVersion
from sexto_events.store import EventStore

from tests.events.test_consumer import _settled, schema, wait_until  # noqa: F401 (fixture)
from tests.support.events import note, reported
from tests.support.projections import EventCounter


def sample(name: str, durable: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": durable}) or 0.0


async def test_each_event_is_a_consumer_span_of_its_producer_and_failures_are_counted(
    nc: Client,
    store: EventStore,
    pool: asyncpg.Pool,
    schema: str,  # noqa: F811
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("tests")
    traced = EventStore(nc, source="sexto/tests", codec=store.codec, tracer=tracer)
    territory = f"t{uuid.uuid4().hex[:10]}"
    case = CaseRef(territory, uuid.uuid4().hex)
    first = await traced.append(case, [reported(student_ref="p1")], CaseVersion.new())
    poison = await traced.append(case, [note("poison")], first.version)
    after = await traced.append(case, [note("after the poison")], poison.version)
    producers = {
        s.attributes["messaging.message.id"]: s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.PRODUCER and s.attributes
    }
    assert set(producers) == {*first.event_ids, *poison.event_ids, *after.event_ids}
    durable = f"tests-{schema}"
    consumer = DurableConsumer(
        nc=nc, pool=pool, decoder=store.decoder, schema=schema, durable=durable,
        handler=EventCounter(schema), filter_subject=f"cases.{territory}.>",
        settings=ConsumerSettings(max_deliver=3, backoff_s=(0.2,), wait_for_predecessor_s=0.2),
        tracer=tracer,
    )  # fmt: skip
    await consumer.setup()
    task = asyncio.create_task(consumer.run())
    try:
        await wait_until(lambda: _settled(nc, durable), timeout=30)
    finally:
        consumer.stop()
        await task
    await traced.close()

    handled = [s for s in spans.get_finished_spans()
               if s.kind is SpanKind.CONSUMER and s.attributes
               and "messaging.message.id" in s.attributes]  # fmt: skip
    for span in handled:
        assert span.attributes is not None
        producer = producers[str(span.attributes["messaging.message.id"])]
        assert span.parent is not None
        assert producer.context is not None
        assert span.parent.span_id == producer.context.span_id
        assert span.context is not None
        assert span.context.trace_id == producer.context.trace_id
        assert span.attributes["messaging.consumer.group.name"] == durable
        assert span.attributes["messaging.system"] == "nats"
    by_event = {str((s.attributes or {})["messaging.message.id"]) for s in handled}
    assert by_event == set(producers)
    failed = [
        s for s in handled if (s.attributes or {})["messaging.message.id"] == poison.event_ids[0]
    ]
    assert all(s.status.status_code is StatusCode.ERROR for s in failed)
    assert max(int((s.attributes or {})["messaging.nats.delivery_count"]) for s in failed) > 1  # type: ignore[arg-type]
    # The batch spans: no single parent, a link to the producer of each event in them.
    batches = [s for s in spans.get_finished_spans() if s.name == f"process {durable}"]
    assert batches
    assert all(s.parent is None for s in batches)
    linked = {link.context.span_id for s in batches for link in s.links}
    assert {p.context.span_id for p in producers.values() if p.context} <= linked
    # Is it stuck? Counted per consumer.
    assert sample("sexto_consumer_redeliveries_total", durable) >= 2
    assert sample("sexto_consumer_dead_letters_total", durable) == 1
    assert sample("sexto_consumer_processing_seconds_count", durable) >= 2
