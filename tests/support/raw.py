"""Writing stored bodies by hand: for tampering tests and events of superseded versions."""

from __future__ import annotations

from nats.aio.client import Client
from sexto_events.direct_get import StoredMessage
from sexto_events.envelope import Envelope
from sexto_events.model import CaseRef
from sexto_events.store import EventStore


async def publish_raw(
    nc: Client, store: EventStore, case: CaseRef, suffix: str, body: bytes
) -> int:
    """Append a body as-is (no checks) to a case's subject; returns its stream sequence."""
    subject = f"{store.spec.subject_root}.{case.territory}.{case.case_id}.{suffix}"
    ack = await nc.jetstream().publish(subject, body, stream=store.spec.name)
    return int(ack.seq)


async def copy_case(
    nc: Client, bodies: list[StoredMessage], target: EventStore, case: CaseRef
) -> None:
    """Write stored messages of a case, in the given order, into another stream."""
    for message in bodies:
        suffix = ".".join(message.subject.split(".")[-2:])
        await publish_raw(nc, target, case, suffix, message.body)


def envelope_for(case: CaseRef, type_name: str, data: dict[str, object], prevhash: str) -> Envelope:
    """A hand-made, correctly chained envelope."""
    return Envelope(
        id="01933b6c-0000-7000-8000-000000000001",
        source="sexto/tests",
        type=type_name,
        subject=case.case_id,
        time="2026-11-02T09:30:00.000000Z",
        data=data,
        territory=case.territory,
        actor="intervener-7",
        actorrole="intervener",
        correlationid="c",
        causationid="c",
    ).sealed(prevhash)
