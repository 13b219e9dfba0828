"""`sexto rebuild` drops a service's read models and replays the log into identical ones."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig
from sexto_cli.rebuild import RebuildStalled, _caught_up
from sexto_cli.session import Session
from sexto_events.consumer import DurableConsumer
from sexto_events.store import EventStore
from sexto_service.runtime import ServiceRuntime

from tests.cli.conftest import Cli, NewCase, write_case
from tests.support.services import settled_rows
from tests.support.world import World, sexto_report

TABLES = ["cases", "dir_territories", "dir_agreements", "dir_schools", "dir_interveners"]


async def dump(runtime: ServiceRuntime) -> dict[str, list[tuple[Any, ...]]]:
    cases = next(c for c in runtime.consumers if c.handler.name == "cases")
    await settled_rows(runtime, cases, "SELECT 1")
    out = {}
    async with runtime.pool.acquire() as conn:
        for table in TABLES:
            rows = await conn.fetch(f"SELECT * FROM intake.{table} ORDER BY 1")
            out[table] = [tuple(r.values()) for r in rows]
    return out


async def test_rebuilding_intake_gives_identical_read_models(cli: Cli, world: World) -> None:
    case_id = world.report(sexto_report(world.school)).json()["case_id"]
    world.wait_for_case(case_id)
    runtime: ServiceRuntime = world.client.app.state.runtime  # type: ignore[attr-defined]
    portal = world.client.portal
    assert portal is not None
    before = portal.call(dump, runtime)

    refused = await cli("rebuild", "intake", role="analyst")
    while_running = await cli("rebuild", "intake", role="admin")
    unchanged = portal.call(dump, runtime)
    # The test's service keeps running: forced (a real operator stops the service first).
    result = await cli("rebuild", "intake", "--force", role="admin")
    after = portal.call(dump, runtime)

    assert refused.exit_code == 2
    assert while_running.exit_code == 2
    assert "stop the intake service first" in while_running.output
    assert unchanged == before
    assert result.exit_code == 0, result.output
    assert "rebuilt intake-cases" in result.stdout
    assert "rebuilt intake-directory" in result.stdout
    assert after == before
    assert any(row[0] == case_id for row in before["cases"])
    assert before["dir_schools"]


async def test_reactors_are_not_replayed(cli: Cli) -> None:
    result = await cli("rebuild", "evaluation", role="admin")

    assert result.exit_code == 0, result.output
    assert "rebuilt evaluation-cases" in result.stdout
    assert "skipped evaluation-opener: a reactor" in result.stdout


async def test_a_durable_active_moments_ago_refuses_the_rebuild_without_force(cli: Cli) -> None:
    # A rebuild's own run reads the durable as a service catching up does: with no-wait
    # pulls, so no pull request is left waiting; its recent deliveries show it in use.
    first = await cli("rebuild", "evaluation", "--force", role="admin")
    again = await cli("rebuild", "evaluation", role="admin")
    forced = await cli("rebuild", "evaluation", "--force", role="admin")

    assert first.exit_code == 0, first.output
    assert again.exit_code == 2
    assert "evaluation looks running (evaluation-cases" in again.output
    assert "s ago" in again.output
    assert "Traceback" not in again.output
    assert forced.exit_code == 0, forced.output


async def test_a_rebuild_that_makes_no_progress_fails_instead_of_waiting_forever(
    nc: Client, side_store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(side_store, case)
    durable = "evaluation-cases"
    config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT)
    await nc.jetstream().add_consumer(side_store.spec.name, config)
    stuck = cast(DurableConsumer, SimpleNamespace(durable=durable))  # applies nothing
    runner = asyncio.create_task(asyncio.sleep(30))
    try:
        with pytest.raises(RebuildStalled, match="stalled after stream sequence 0 of 6"):
            await _caught_up(cast(Session, SimpleNamespace(nc=nc)), stuck, runner,
                             side_store.spec, None, 1.0)  # fmt: skip
    finally:
        runner.cancel()
