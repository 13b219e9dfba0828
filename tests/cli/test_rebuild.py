"""`sexto rebuild` drops a service's read models and replays the log into identical ones."""

from __future__ import annotations

from typing import Any

from sexto_events.service import ServiceRuntime

from tests.cli.conftest import Cli
from tests.support.services import settled_rows
from tests.support.world import World, sexto_report

TABLES = ["cases", "dir_territories", "dir_agreements", "dir_schools", "dir_interveners"]


async def dump(runtime: ServiceRuntime) -> dict[str, list[tuple[Any, ...]]]:
    cases = next(c for c in runtime.consumers if c.projection.name == "cases")
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


async def test_reactors_are_not_replayed_and_notification_has_nothing_yet(cli: Cli) -> None:
    result = await cli("rebuild", "evaluation", role="admin")

    assert result.exit_code == 0, result.output
    assert "rebuilt evaluation-cases" in result.stdout
    assert "skipped evaluation-opener: a reactor" in result.stdout
