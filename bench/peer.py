"""The command loop (load a case, append one event) beside the `eventsourcing` library.

Both sides commit durably: NATS with `sync_interval: always`, PostgreSQL with fsync and
synchronous_commit on (its defaults). Both are sequential, over the same number of cases.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, event
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore

from bench.fixtures import fresh_cases, note_event, read_event

CASES = 20


class Case(Aggregate):
    """The peer's aggregate: the same fact recorded per command."""

    @event("Reported")
    def __init__(self) -> None:
        self.reads = 0

    @event("Read")
    def record_read(self, view: str, service: str) -> None:
        self.reads += 1

    @event("Noted")
    def record_note(self, text: str) -> None:
        self.reads += 1


class CaseApp(Application[uuid.UUID]):
    """An eventsourcing application on PostgreSQL."""


def eventsourcing_rate(
    host: str, port: int, dbname: str, commands: int, cache: bool, cipher: bool = False
) -> float:
    """Commands/s of get-aggregate, trigger one event, save, sequentially.

    With `cache`, its aggregate cache with fast-forward (reads only newer events), the
    counterpart of our store's cache of verified case prefixes. With `cipher`, its AES-GCM
    cipher on and the command records a note (the counterpart of our sealed note).
    """
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused-trust-auth",
        "CREATE_TABLE": "y",
    }
    if cache:
        env |= {"AGGREGATE_CACHE_MAXSIZE": "1000", "AGGREGATE_CACHE_FASTFORWARD": "y"}
    if cipher:
        env |= {
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
            "CIPHER_KEY": AESCipher.create_key(num_bytes=32),
        }
    app: Any = CaseApp(env=env)
    ids = []
    for _ in range(CASES):
        case = Case()
        app.save(case)
        ids.append(case.id)
    start = time.perf_counter()
    for i in range(commands):
        case = app.repository.get(ids[i % CASES])
        if cipher:
            case.record_note(text="met the student with a parent; phone sealed")
        else:
            case.record_read(view="history", service="intake")
        app.save(case)
    rate = commands / (time.perf_counter() - start)
    app.close()
    return rate


async def store_rate(store: EventStore, commands: int, personal: bool) -> float:
    """Commands/s of load, decide (append one event at the loaded version), sequentially."""
    cases = fresh_cases("peerbench", CASES)
    for case in cases:
        await store.append(case, [read_event()], CaseVersion.new())

    def command() -> NewEvent:
        return note_event() if personal else read_event()

    start = time.perf_counter()
    for i in range(commands):
        target: CaseRef = cases[i % CASES]
        loaded = await store.load(target)
        await store.append(target, [command()], loaded.version)
    return commands / (time.perf_counter() - start)
