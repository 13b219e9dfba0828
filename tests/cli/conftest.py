"""The `sexto` command line against the suite's real servers, with cases written as events."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sexto_protocols as protocols
from sexto_cli.main import app
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_events.catalogue.escalation import (
    EscalatedStudent,
    EscalationRequested,
    KitCollected,
    ProsecutorDecided,
    SealCheck,
)
from sexto_events.catalogue.intake import CaseClosed, DeviceSecured, NoteAdded
from sexto_events.model import CaseRef, CaseVersion, NewEvent
from sexto_events.store import EventStore
from typer.testing import CliRunner, Result

from tests.conftest import MASTER_KEY
from tests.support.events import INVENTED_NAME, reported

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Cli:
    """Runs `sexto` in a worker thread (it runs its own event loop) with the suite's settings."""

    env: dict[str, str]

    async def __call__(self, *args: str, role: str | None = "legal_reviewer", **env: str) -> Result:
        argv = [*(["--role", role, "--as", f"{role}-test"] if role else []), *args]
        runner = CliRunner()
        environment = {**self.env, **env}
        return await asyncio.to_thread(lambda: runner.invoke(app, argv, env=environment))


@pytest.fixture(scope="session")
def cli(
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
    transparency_stack: dict[str, str],
) -> Cli:
    return Cli(
        {
            "SEXTO_ENVIRONMENT": "test",
            "SEXTO_NATS_URL": nats_server.url,
            "SEXTO_DATABASE_URL": postgres.dsn,
            "SEXTO_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
            "SEXTO_AUTH_LOCAL_KEY_FILE": str(issuer_key_file),
            "COLUMNS": "200",
        }
    )


def at(hours: float) -> datetime:
    """A time `hours` after the first event of the written cases."""
    return T0 + timedelta(hours=hours)


async def write_case(
    store: EventStore, case: CaseRef, *, name: str = INVENTED_NAME, decision: str = "impulsive"
) -> list[str]:
    """A whole SEXTO case: report, device sealed, note, escalation, kit, decision (ids)."""
    version_id = protocols.current("sexto-qc").id
    first = reported(name=name)
    events = [
        NewEvent(first.data, first.actor, first.actor_role, protocol_version=version_id,
                 time=at(0)),
        NewEvent(DeviceSecured(owner_ref="stu-1", measure="switched_off", seal_number="SB-0042"),
                 "intervener-7", "intervener", time=at(0.5)),
        NewEvent(NoteAdded(text=f"{name} met the intervener"), "intervener-7", "intervener",
                 time=at(1)),
        NewEvent(EscalationRequested(school_id="school-042", protocol="sexto-qc", urgency="high",
                                     students=[EscalatedStudent(student_ref="stu-1",
                                                                roles=["depicted"],
                                                                indication="impulsive")],
                                     seal_numbers=["SB-0042"], intervener_ref="intervener-7",
                                     assessment_event_id=str(uuid.uuid4())),
                 "sexto-escalation", "service", protocol_version=version_id, time=at(2)),
        NewEvent(KitCollected(officer_ref="po-12",
                              seals=[SealCheck(seal_number="SB-0042", intact=True)],
                              missing_seals=[], unexpected_seals=[], flagged=False),
                 "po-12", "police_officer", time=at(5)),
        NewEvent(ProsecutorDecided(student_ref="stu-1", decision=decision,
                                   reasons="first incident, consensual exchange",
                                   follow_up="educational_meeting_required"),
                 "dpcp-3", "prosecutor", time=at(30)),
    ]  # fmt: skip
    version = CaseVersion.new()
    ids = []
    for event in events:
        result = await store.append(case, [event], version)
        version = result.version
        ids += result.event_ids
    return ids


async def close_case(store: EventStore, case: CaseRef, when: datetime) -> None:
    """Close the case at `when`."""
    version = (await store.load(case)).version
    event = NewEvent(CaseClosed(resolution="educational_path_completed"), "iv-7", "intervener",
                     time=when)  # fmt: skip
    await store.append(case, [event], version)


def output_json(result: Result) -> Any:
    """The JSON a command printed (fails with its output when it did not succeed)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


NewCase = Callable[[], CaseRef]
