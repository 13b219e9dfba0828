"""A log written by main before issue 12 replays to the same read models with today's code.

The fixture (tests/fixtures/log-before-issue-12: synthetic data, made on commit e11bab2 by
its generator.py.txt) holds every stored message of CASES and DIRECTORY, the key rows that
open the sealed fields, and every table of the four services once that main had settled.
Here the stored bytes are published unchanged on a nats-server of their own (so stream
sequences are the fixture's), the keys and the partners' subscriptions are restored into a
fresh database, and today's projections are rebuilt through the path of `sexto rebuild`.
Each read table must then equal the fixture's, column by column by name.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client
from sexto_cli.rebuild import rebuild_service
from sexto_cli.session import Session
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.procs import free_port
from sexto_events.catalogue import CATALOGUE
from sexto_events.catalogue.intake import CaseReported
from sexto_events.connection import connect
from sexto_events.db import DbConnection, create_pool
from sexto_events.decode import parse_body
from sexto_events.migrate import migrate_keys
from sexto_events.model import CaseRef
from sexto_events.personal import KeyVault, PersonalDataCodec
from sexto_events.principal import Principal, Role
from sexto_events.settings import EventLogSettings
from sexto_events.store import EventStore
from sexto_intake.projections.directory import DIRECTORY_STREAM
from sexto_legal.verification import verify_case, verify_log
from sexto_notification.bootstrap import DEFINITION as NOTIFICATION
from sexto_protocols.lifecycle import CaseLifecycle, Status, status
from sexto_service.runtime import migrate_service

from tests.conftest import MASTER_KEY

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "log-before-issue-12"
SERVICES = ("intake", "evaluation", "escalation", "notification")
SCHEMAS = SERVICES

Row = dict[str, Any]
Tables = dict[str, list[Row]]

# The read models, by the columns that identify a row.
READ_MODELS: dict[str, tuple[str, ...]] = {
    "intake.cases": ("case_id",),
    "intake.dir_territories": ("territory_id",),
    "intake.dir_agreements": ("agreement_id",),
    "intake.dir_schools": ("school_id",),
    "intake.dir_interveners": ("intervener_id",),
    "evaluation.cases": ("case_id",),
    "escalation.escalations": ("case_id",),
    "escalation.case_scope": ("case_id",),
    "escalation.custody": ("case_id", "seal_number"),
    "notification.cases": ("case_id",),
    "notification.schools": ("school_id",),
    "notification.recipients": ("case_id", "recipient_ref"),
    "notification.outcomes": ("event_id",),
    "notification.deliveries": ("id",),
}
# The consumer runtime's own tables in each schema: where each projection stands (the
# same stream sequences and hashes), and no failure nor dead letter, before or after.
RUNTIME: dict[str, tuple[str, ...]] = {
    **{f"{s}.projection_checkpoints": ("consumer", "case_key") for s in SCHEMAS},
    **{f"{s}.projection_positions": ("consumer",) for s in SCHEMAS},
    **{f"{s}.consumer_failures": ("consumer", "stream_seq") for s in SCHEMAS},
    **{f"{s}.dead_letters": ("consumer", "stream_seq") for s in SCHEMAS},
}
# Not derived from the log, so not replayed: partners' subscriptions are restored from the
# fixture (the webhooks queued on replay depend on them); intake's remembered answers to
# Idempotency-Key retries are no read model and no rebuild makes them.
RESTORED = "notification.subscriptions"
NOT_FROM_THE_LOG = frozenset({RESTORED, "intake.idempotency"})
# Columns of the outbox the notification sender sets from its own clock or lease while it
# works, not from the record: a rebuild from the log cannot know them (the old code set
# them so too; its `sexto rebuild` keeps the outbox). `sent_at` is compared on its
# meaning by sent_times: set exactly when sent, at the time the record gives.
SENDER_COLUMNS: dict[str, frozenset[str]] = {
    "notification.deliveries": frozenset(
        {"created_at", "next_attempt_at", "leased_until", "lease_token", "sent_at"}
    ),
}
# The webhook bodies the outbox keeps: made by the disclosure policy of the subscription
# owner's role since issue 13 (policy version 2), so compared on their meaning by
# test_each_webhook_body_is_the_fixtures_with_what_the_policy_withholds.
POLICY_COLUMNS: dict[str, frozenset[str]] = {"notification.deliveries": frozenset({"body"})}
# The queue's columns that follow the case's lifecycle since issue 14 (one status word
# derived from sexto_protocols.lifecycle, a closed case leaving the active queue, the
# version of the last event that moved it, the most urgent urgency arming the deadlines):
# checked on their meaning by lifecycle_columns.
LIFECYCLE_COLUMNS: dict[str, frozenset[str]] = {
    "escalation.escalations": frozenset({"status", "version", "most_urgent"}),
    "escalation.case_scope": frozenset({"lifecycle"}),
    "intake.cases": frozenset({"lifecycle"}),
}
INVENTED_NAMES = {
    "Jordan Exemple-Test",
    "Alex Tremblay-Test",
    "Sam Gagnon-Test",
    "Robin Fictif-Test",
    "Casey Invente-Test",
}


@dataclass(frozen=True)
class Stored:
    """One message of the fixture as the stream held it."""

    seq: int
    subject: str
    hdrs: str
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        """The stored headers ("NATS/1.0" block) as a dict."""
        lines = self.hdrs.split("\r\n")
        pairs = [line.split(": ", 1) for line in lines[1:] if line]
        return {name: value for name, value in pairs}

    @property
    def case(self) -> CaseRef:
        _, territory, case_id, *_ = self.subject.split(".")
        return CaseRef(territory, case_id)


def stored(name: str) -> list[Stored]:
    """The messages of one stream in the fixture, in stream order."""
    lines = (FIXTURE / name).read_text(encoding="utf-8").splitlines()
    found = []
    for line in lines:
        item = json.loads(line)
        found.append(Stored(item["seq"], item["subject"], item["hdrs"], item["body"].encode()))
    assert [m.seq for m in found] == list(range(1, len(found) + 1))
    return found


CASES = stored("cases.jsonl")
DIRECTORY = stored("directory.jsonl")
KEYS: dict[str, Any] = json.loads((FIXTURE / "keys.json").read_text(encoding="utf-8"))


def _roles_as_sets(tables: Tables) -> Tables:
    """The fixture's read models in today's shape: since issue 14 a student holds a set of
    roles (intake.cases.students[].roles), rebuilt from the one role the old events name."""
    for territory in tables["intake.dir_territories"]:
        territory["jurisdiction"] = "qc"  # territories before jurisdictions read as Quebec
    for row in tables["intake.cases"]:
        row["students"] = [
            {**{k: v for k, v in s.items() if k != "role"}, "roles": [s["role"]]}
            for s in row["students"]
        ]
    return tables


BEFORE: Tables = _roles_as_sets(json.loads((FIXTURE / "tables.json").read_text(encoding="utf-8")))


async def publish_raw(nc: Client, message: Stored) -> None:
    """Publish a stored message as its writer did: its bytes and headers unchanged (the
    message id, the expected last subject sequence, the atomic batch of several events)."""
    headers = message.headers
    if "Nats-Batch-Id" in headers and "Nats-Batch-Commit" not in headers:
        await nc.publish(message.subject, message.body, headers=headers)  # answered at commit
        return
    reply = json.loads((await nc.request(message.subject, message.body, 5, headers=headers)).data)
    assert reply.get("seq") == message.seq, reply


async def stored_message(nc: Client, stream: str, seq: int) -> Stored:
    """A message as the stream now holds it."""
    request = json.dumps({"seq": seq}).encode()
    reply = json.loads((await nc.request(f"$JS.API.STREAM.MSG.GET.{stream}", request, 5)).data)
    message = reply["message"]
    return Stored(
        message["seq"],
        message["subject"],
        base64.b64decode(message.get("hdrs", "")).decode(),
        base64.b64decode(message.get("data", "")),
    )


def plain(value: Any) -> Any:
    """A PostgreSQL value in the fixture's JSON form (as the generator wrote it)."""
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def for_sql(value: Any) -> Any:
    """A fixture value as jsonb_populate_record reads it (bytea in hex)."""
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return "\\x" + base64.b64decode(value["$bytes"]).hex()
    return value


async def restore(conn: DbConnection, table: str, rows: Iterable[Row]) -> None:
    """Insert fixture rows into `table`, columns by name."""
    for row in rows:
        record = json.dumps({k: for_sql(v) for k, v in row.items()})
        await conn.execute(
            f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, $1::jsonb)",
            record,
        )


async def dump(pool: asyncpg.Pool) -> Tables:
    """Every table of the four service schemas, rows as the fixture holds them."""
    found: Tables = {}
    async with pool.acquire() as conn:
        names = await conn.fetch(
            "SELECT table_schema || '.' || table_name AS name, "
            "array_agg(column_name::text) FILTER (WHERE data_type IN ('json', 'jsonb')) "
            "AS json_columns FROM information_schema.columns "
            "WHERE table_schema = ANY($1) GROUP BY 1",
            list(SCHEMAS),
        )
        for name, json_columns in names:
            rows = await conn.fetch(f"SELECT * FROM {name}")
            json_set = set(json_columns or ())
            found[name] = [
                {
                    k: plain(json.loads(v) if k in json_set and isinstance(v, str) else v)
                    for k, v in r.items()
                }
                for r in rows
            ]
    return found


def differences(
    before: Tables,
    after: Tables,
    keys: dict[str, tuple[str, ...]],
    skip: dict[str, frozenset[str]] | None = None,
) -> list[str]:
    """Each row missing, added or changed (table, key, column, old and new value)."""
    found: list[str] = []
    for table, key in keys.items():
        left_out = (skip or {}).get(table, frozenset())
        old = {tuple(r[c] for c in key): r for r in before.get(table, [])}
        new = {tuple(r[c] for c in key): r for r in after.get(table, [])}
        found += [f"{table} {k}: missing" for k in sorted(old.keys() - new.keys(), key=str)]
        found += [f"{table} {k}: added" for k in sorted(new.keys() - old.keys(), key=str)]
        for k in sorted(old.keys() & new.keys(), key=str):
            for column in sorted((old[k].keys() | new[k].keys()) - left_out):
                was, now = old[k].get(column, "<no column>"), new[k].get(column, "<no column>")
                if was != now:
                    found.append(f"{table} {k} {column}: {was!r} -> {now!r}")
    return found


@dataclass
class Replayed:
    """Today's code after the fixture's log was replayed into fresh servers."""

    store: EventStore
    session: Session
    read_back: list[Stored]
    rebuilt: set[str]
    skipped: set[str]
    tables: Tables


@pytest.fixture(scope="module")
async def replayed(servers_dir: Path, postgres: EmbeddedPostgres) -> AsyncIterator[Replayed]:
    token = uuid.uuid4().hex[:8]
    server = NatsServer(free_port(), servers_dir / f"nats-replay-{token}").start()
    database = f"replay_{token}"
    admin = await asyncpg.connect(postgres.dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    dsn = f"{postgres.dsn.rsplit('/', 1)[0]}/{database}"
    master_key = base64.b64decode(KEYS["master_key_b64"])
    assert master_key == MASTER_KEY
    settings = EventLogSettings(
        environment="test",
        nats_url=server.url,
        database_url=dsn,
        master_key=KEYS["master_key_b64"],
    )
    nc = await connect(server.url, name="sexto-replay-test")
    pool = await create_pool(dsn)
    vault = KeyVault(pool, master_key, lease_seconds=settings.key_lease_s)
    store = EventStore(nc, source="sexto/legal", codec=PersonalDataCodec(vault))
    directory = EventStore(nc, source="sexto/legal", spec=DIRECTORY_STREAM)
    try:
        await migrate_keys(dsn)
        for each in (store, directory):
            await each.ensure_stream()
        for message in CASES + DIRECTORY:
            await publish_raw(nc, message)
        read_back = [await stored_message(nc, store.spec.name, m.seq) for m in CASES]
        read_back += [await stored_message(nc, DIRECTORY_STREAM.name, m.seq) for m in DIRECTORY]
        async with pool.acquire() as conn:
            await restore(conn, "sexto_keys.subject_keys", KEYS["subject_keys"])
            await restore(conn, "sexto_keys.shredded_subjects", KEYS["shredded_subjects"])
            await conn.execute("CREATE SCHEMA notification")
        await migrate_service(NOTIFICATION, dsn)  # the subscriptions: not derived from the log
        async with pool.acquire() as conn:
            await restore(conn, RESTORED, BEFORE[RESTORED])
        session = Session(settings, Principal("replay-test", Role.ADMIN), nc, pool, vault, store)
        rebuilt: set[str] = set()
        skipped: set[str] = set()
        for name in SERVICES:
            done, reactors = await rebuild_service(session, name, stall_s=20)
            rebuilt |= {r.durable for r in done}
            skipped |= set(reactors)
        yield Replayed(store, session, read_back, rebuilt, skipped, await dump(pool))
    finally:
        await directory.close()
        await store.close()
        await nc.close()
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.close()
        server.stop()


def expected_runtime_rows(rebuilt: set[str]) -> Tables:
    """The fixture's runtime rows of the projections a rebuild replays (reactors are left
    alone by `sexto rebuild`: replaying them would only find their events recorded)."""
    return {
        table: [r for r in BEFORE[table] if "consumer" not in r or r["consumer"] in rebuilt]
        for table in RUNTIME
    }


async def test_each_stored_message_is_back_unchanged_at_its_own_stream_sequence(
    replayed: Replayed,
) -> None:
    assert replayed.read_back == CASES + DIRECTORY
    assert replayed.rebuilt == {
        "intake-cases", "intake-directory", "evaluation-cases", "escalation-queue",
        "notification-schools", "notification-dispatch",
    }  # fmt: skip
    assert replayed.skipped == {
        "evaluation-opener", "escalation-requester", "intake-student-index"
    }  # fmt: skip


async def test_every_fixture_event_decodes_through_todays_catalogue(replayed: Replayed) -> None:
    decoder = replayed.store.decoder

    events = await decoder.decode([(m.seq, parse_body(m.body)) for m in CASES])
    directory = await decoder.decode([(m.seq, parse_body(m.body)) for m in DIRECTORY])

    assert [e.stored_type for e in events] == [json.loads(m.body)["type"] for m in CASES]
    assert len(directory) == len(DIRECTORY)
    # Each decoded to the current version of its type (through the upcasters, where the
    # stored version is superseded; e11bab2 wrote only versions still current).
    catalogue = replayed.store.decoder.catalogue
    assert all(catalogue.is_current(type(e.data)) for e in [*events, *directory])
    # The sealed fields open with the restored keys: the invented names come back.
    names = {s.name for e in events if isinstance(e.data, CaseReported) for s in e.data.students}
    assert names == INVENTED_NAMES


async def test_the_hash_chain_of_every_fixture_case_verifies(replayed: Replayed) -> None:
    whole = await verify_log(replayed.session.nc, replayed.store.spec)
    cases = {m.case for m in CASES}

    reports = [await verify_case(replayed.store, case) for case in cases]
    loaded = [await replayed.store.load(case) for case in cases]

    assert whole.ok, whole.broken
    assert (whole.cases, whole.events) == (len(cases), len(CASES))
    assert all(r.ok for r in reports), reports
    assert sum(len(c.events) for c in loaded) == len(CASES)


async def test_todays_projections_rebuild_the_read_models_of_the_old_log(
    replayed: Replayed,
) -> None:
    after = replayed.tables
    assert set(BEFORE) == set(READ_MODELS) | set(RUNTIME) | NOT_FROM_THE_LOG
    # New since the fixture: Alembic's version tables of the migrated (not derived) tables,
    # and each service's Idempotency-Key records (one mechanism for every write).
    migrations = {t for t in after if t.split(".")[1].startswith("alembic_version")}
    assert migrations == {
        f"{s}.{version}"
        for s in SCHEMAS
        for version in ("alembic_version_runtime", "alembic_version_idempotency")
    } | {"notification.alembic_version", "intake.alembic_version"}
    answers = {f"{s}.idempotency_keys" for s in SCHEMAS}
    # Intake's index of students seen before is not derived from the log (issue 14).
    assert set(after) - migrations - answers - {"intake.student_index"} == (
        set(READ_MODELS) | set(RUNTIME) | {RESTORED}
    )

    skipped = {t: SENDER_COLUMNS.get(t, frozenset()) | POLICY_COLUMNS.get(t, frozenset())
                  | LIFECYCLE_COLUMNS.get(t, frozenset())
               for t in READ_MODELS}  # fmt: skip
    changed = differences(BEFORE, after, READ_MODELS, skipped)
    runtime = differences(expected_runtime_rows(replayed.rebuilt), after, RUNTIME)

    assert changed == []
    assert runtime == []
    assert lifecycle_columns(BEFORE, after) == []
    assert all(BEFORE[t] for t in READ_MODELS), "the fixture fills every read model"
    assert sent_times(after) == sent_times(BEFORE)


async def test_each_webhook_body_is_the_fixtures_with_what_the_policy_withholds(
    replayed: Replayed,
) -> None:
    """A replayed outbox holds, for each webhook, the body the old code made with the values
    the owner's role is not shown replaced by the placeholder: nothing opened, nothing else
    changed (names and free text were withheld before already)."""
    owners = {s["id"]: s["owner_role"] for s in BEFORE[RESTORED]}
    old = {r["id"]: r for r in BEFORE["notification.deliveries"]}
    new = {r["id"]: r["body"] for r in replayed.tables["notification.deliveries"]}
    assert old.keys() == new.keys()
    assert all((old[i]["body"] is None) == (new[i] is None) for i in old)
    bodies = [
        (owners[row["target"]], upcast(json.loads(row["body"])), json.loads(new[i]))
        for i, row in old.items()
        if row["body"] is not None
    ]
    assert {owner for owner, _, _ in bodies} == {"police_dispatch", "school_admin"}
    assert all(narrowed(was, now) for _, was, now in bodies)
    # Police dispatch are not shown who acted (the intervener to call is in the data); a
    # school's administrator is.
    assert all((now["actor"] == {"withheld": True}) == (owner == "police_dispatch")
               for owner, _, now in bodies)  # fmt: skip


def upcast(body: dict[str, Any]) -> dict[str, Any]:
    """An old webhook body with its data in today's version of its type (as a replay
    delivers it: the current type, e.g. a report's students with a set of roles)."""
    type_name, data = CATALOGUE.upcast(body["type"], body["data"])
    return {**body, "type": type_name, "data": data}


def narrowed(was: Any, now: Any) -> bool:
    """True when `now` is `was` with some values withheld, and nothing else changed."""
    if now in (was, {"withheld": True}):
        return True
    if isinstance(was, dict) and isinstance(now, dict):
        # A field a later version added (none in the old event) reads null.
        added = now.keys() - was.keys()
        return (
            was.keys() <= now.keys()
            and all(now[k] is None for k in added)
            and all(narrowed(was[k], now[k]) for k in was)
        )
    if isinstance(was, list) and isinstance(now, list):
        return len(was) == len(now) and all(map(narrowed, was, now))
    return False


def lifecycle_columns(before: Tables, after: Tables) -> list[str]:
    """What the queue's lifecycle columns say that they should not: a status other than the
    lifecycle's word for the case, a word that moved without the case being closed or the
    old `decision_recorded` being replaced, a version gone back, another most urgent
    urgency than the only one an old log knew."""
    lifecycles = {
        r["case_id"]: CaseLifecycle.from_json(r["lifecycle"])
        for r in after["escalation.case_scope"]
    }
    old = {r["case_id"]: r for r in before["escalation.escalations"]}
    wrong: list[str] = []
    for row in after["escalation.escalations"]:
        was, word = old[row["case_id"]], status(lifecycles[row["case_id"]])
        if row["status"] != word.value:
            wrong.append(f"{row['case_id']}: {row['status']!r}, the lifecycle says {word!r}")
        if row["status"] != was["status"] and not (
            word in (Status.CLOSED, Status.DECIDED, Status.PROSECUTOR_CONSULTED)
            and (word is Status.CLOSED or was["status"] == "decision_recorded")
        ):
            wrong.append(f"{row['case_id']}: {was['status']!r} -> {row['status']!r}")
        if row["version"] < was["version"] or row["most_urgent"] != was["urgency"]:
            wrong.append(f"{row['case_id']}: version or most_urgent")
    # The case read (intake) follows the same fold: closed exactly when the case is, and
    # the queue's word for every escalated case.
    queue = {r["case_id"]: r["status"] for r in after["escalation.escalations"]}
    for row in after["intake.cases"]:
        seen = CaseLifecycle.from_json(row["lifecycle"])
        if seen.closed != (row["status"] == "closed"):
            wrong.append(f"intake {row['case_id']}: closed {seen.closed}, {row['status']!r}")
        if row["case_id"] in queue and status(seen).value != queue[row["case_id"]]:
            wrong.append(f"intake {row['case_id']}: {status(seen)!r} beside the queue's")
    return wrong


def sent_times(tables: Tables) -> dict[str, datetime | None]:
    """Per delivery, when the record says it was sent (None: not sent), checked against the
    table's `sent_at`: rebuilt from the log, that is the record's time; the old sender
    wrote its own clock just after recording the attempt, a few milliseconds later."""
    recorded = {
        o["delivery_id"]: datetime.fromisoformat(o["at"])
        for o in tables["notification.outcomes"]
        if o["outcome"] == "sent"
    }
    found: dict[str, datetime | None] = {}
    for row in tables["notification.deliveries"]:
        assert (row["status"] == "sent") == (row["sent_at"] is not None), row["id"]
        if row["sent_at"] is None:
            found[row["id"]] = None
            continue
        lag = (datetime.fromisoformat(row["sent_at"]) - recorded[row["id"]]).total_seconds()
        assert 0 <= lag < 5, (row["id"], lag)
        found[row["id"]] = recorded[row["id"]]
    return found


def test_the_comparison_catches_a_changed_missing_or_added_row() -> None:
    after = json.loads(json.dumps(BEFORE))
    decided = next(r for r in after["escalation.escalations"] if r["status"] == "decision_recorded")
    decided["status"] = "acknowledged"
    removed = after["notification.outcomes"].pop()
    after["intake.dir_schools"].append({**after["intake.dir_schools"][0], "school_id": "extra"})
    del after["evaluation.cases"][0]["urgency"]

    found = differences(BEFORE, after, READ_MODELS, SENDER_COLUMNS)

    assert differences(BEFORE, BEFORE, READ_MODELS) == []
    assert sorted(found) == sorted([
        "intake.dir_schools ('extra',): added",
        f"escalation.escalations ('{decided['case_id']}',) status: "
        "'decision_recorded' -> 'acknowledged'",
        f"notification.outcomes ('{removed['event_id']}',): missing",
        f"evaluation.cases ('{after['evaluation.cases'][0]['case_id']}',) urgency: "
        f"{BEFORE['evaluation.cases'][0]['urgency']!r} -> '<no column>'",
    ])  # fmt: skip
