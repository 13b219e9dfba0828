"""History from the log, as_of, read audit, the scoped list and its cursor."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sexto_events.catalogue.audit import CaseRead
from sexto_events.catalogue.intake import NoteAdded
from sexto_events.model import CaseRef, NewEvent
from sexto_events.principal import Role
from sexto_service.runtime import rebuild_read_model

from tests.intake.conftest import World, sexto_report
from tests.support.services import settled_rows


def log_events(world: World, case_id: str) -> list[Any]:
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    loaded = world.client.portal.call(runtime.store.load, CaseRef(world.territory, case_id))  # type: ignore[union-attr]
    return list(loaded.events)


def reads(world: World, case_id: str, view: str) -> int:
    return sum(
        1
        for e in log_events(world, case_id)
        if isinstance(e.data, CaseRead) and e.data.view == view and e.data.policy_version == "2"
    )


def new_case(world: World) -> str:
    case_id: str = world.report(sexto_report(world.school)).json()["case_id"]
    world.wait_for_case(case_id)
    return case_id


def test_history_is_the_log_itself(world: World) -> None:
    case_id = new_case(world)

    history = world.client.get(f"/v1/cases/{case_id}/history", headers=world.headers()).json()

    log = log_events(world, case_id)
    assert history["chain_verified"] is True
    assert [e["id"] for e in history["events"]] == [e.id for e in log]
    assert [e["seq"] for e in history["events"]] == [e.seq for e in log]
    assert history["events"][0]["data"]["students"][0]["name"] == "Maëlle Quintessa"
    assert history["events"][0]["actor"] == world.intervener


def test_as_of_gives_exactly_what_was_known_then(world: World) -> None:
    case_id = new_case(world)  # the wait reads the case once: one audit event
    time.sleep(0.01)
    cut = datetime.now(UTC)
    time.sleep(0.01)
    world.client.get(f"/v1/cases/{case_id}", headers=world.headers())

    then = world.client.get(
        f"/v1/cases/{case_id}/history", params={"as_of": cut.isoformat()}, headers=world.headers()
    ).json()

    known = [e for e in log_events(world, case_id) if e.envelope.time_dt <= cut]
    assert [e["id"] for e in then["events"]] == [e.id for e in known]
    assert len(then["events"]) == 2  # the report and the first read
    assert then["version"] == known[-1].seq


def test_every_read_is_recorded_exactly_once(world: World) -> None:
    case_id = new_case(world)
    state_reads_before = reads(world, case_id, "state")

    for _ in range(3):
        assert world.client.get(f"/v1/cases/{case_id}", headers=world.headers()).status_code == 200
    for _ in range(2):
        world.client.get(f"/v1/cases/{case_id}/history", headers=world.headers())

    assert reads(world, case_id, "state") == state_reads_before + 3
    assert reads(world, case_id, "history") == 2
    audit = [e for e in log_events(world, case_id) if e.envelope.type.endswith("case_read.v2")]
    assert {e.envelope.actor for e in audit} == {world.intervener}
    assert {e.envelope.actorrole for e in audit} == {"intervener"}


def test_refused_reads_are_not_recorded(world: World) -> None:
    case_id = new_case(world)
    before = len(log_events(world, case_id))
    other = world.headers(Role.INTERVENER, subject="x", school=world.other_school)

    world.client.get(f"/v1/cases/{case_id}", headers=other)

    assert len(log_events(world, case_id)) == before


def test_analysts_see_the_history_pseudonymised(world: World) -> None:
    case_id = new_case(world)

    history = world.client.get(
        f"/v1/cases/{case_id}/history", headers=world.headers(Role.ANALYST, subject="an-1")
    )

    assert history.status_code == 200
    assert "Maëlle" not in history.text
    assert history.json()["events"][0]["data"]["summary"] == {"withheld": True}


def test_the_list_pages_with_a_cursor(world: World) -> None:
    made = {new_case(world) for _ in range(3)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = world.client.get("/v1/cases", params=params, headers=world.headers()).json()
        seen += [c["case_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert made <= set(seen)
    assert len(seen) == len(set(seen))


def test_a_bad_cursor_is_a_clear_400(world: World) -> None:
    response = world.client.get("/v1/cases?cursor=nonsense", headers=world.headers())

    assert response.status_code == 400
    assert response.json()["type"].endswith("/bad-cursor")


def test_dropping_the_read_model_and_replaying_the_log_rebuilds_it_identically(
    world: World,
) -> None:
    new_case(world)
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    consumer = next(c for c in runtime.consumers if c.handler.name == "cases")

    async def dump() -> list[tuple[Any, ...]]:
        return await settled_rows(runtime, consumer, "SELECT * FROM intake.cases ORDER BY case_id")

    async def rebuilt_up_to(seq: int) -> None:
        await rebuild_read_model(runtime, "cases")
        deadline = time.monotonic() + 30
        while await consumer.position() < seq:
            assert time.monotonic() < deadline, "the rebuild did not catch up"
            await asyncio.sleep(0.05)

    call = world.client.portal.call  # type: ignore[union-attr]
    before = call(dump)
    call(rebuilt_up_to, call(consumer.position))

    assert call(dump) == before
    assert len(before) > 0


def test_an_as_of_without_a_timezone_is_a_clear_422(world: World) -> None:
    case_id = new_case(world)

    response = world.client.get(
        f"/v1/cases/{case_id}/history", params={"as_of": "2026-11-21T10:00:00"},
        headers=world.headers(),
    )  # fmt: skip

    assert response.status_code == 422
    assert any("as_of" in e["location"] for e in response.json()["errors"])


def test_as_of_is_a_prefix_of_the_record_even_when_a_clock_ran_behind(world: World) -> None:
    # An event stored later with an earlier time (a writer's clock behind) is not shown
    # "as of" a time before what was stored ahead of it: as of T is the record up to the
    # first event recorded after T, as `sexto history --as-of` shows it.
    case_id = new_case(world)
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]
    case = CaseRef(world.territory, case_id)
    ahead = datetime.now(UTC) + timedelta(hours=2)
    behind = datetime.now(UTC) + timedelta(hours=1)

    async def append(at: datetime) -> None:
        version = (await runtime.store.load(case)).version
        note = NewEvent(NoteAdded(text="a note"), "intervener-7", "intervener", time=at)
        await runtime.store.append(case, [note], version)

    world.client.portal.call(append, ahead)  # type: ignore[union-attr]
    world.client.portal.call(append, behind)  # type: ignore[union-attr]
    cut = behind + timedelta(minutes=1)

    then = world.client.get(
        f"/v1/cases/{case_id}/history", params={"as_of": cut.isoformat()}, headers=world.headers()
    ).json()

    kinds = [e["type"].split(".")[3] for e in then["events"]]
    assert "note_added" not in kinds  # the later-stored note stays behind the first one


def test_whoever_got_a_201_reads_the_case_at_once_naming_its_version(world: World) -> None:
    # No wait for the read model: the read names the version the write answered.
    for _ in range(5):
        made = world.report(sexto_report(world.school))
        assert made.status_code == 201, made.text
        case_id, version = made.json()["case_id"], made.json()["version"]

        state = world.client.get(
            f"/v1/cases/{case_id}", params={"min_version": version}, headers=world.headers()
        )
        history = world.client.get(
            f"/v1/cases/{case_id}/history", params={"min_version": version},
            headers=world.headers(),
        )  # fmt: skip

        assert state.status_code == 200, state.text
        assert state.json()["version"] >= version
        assert history.status_code == 200, history.text
        assert history.json()["events"][0]["type"].endswith("case_reported.v2")


def test_naming_a_version_never_opens_another_schools_case(world: World) -> None:
    made = world.report(sexto_report(world.school)).json()
    world.wait_for_case(made["case_id"])

    other = world.client.get(
        f"/v1/cases/{made['case_id']}", params={"min_version": made["version"]},
        headers=world.other_school_headers(),
    )  # fmt: skip

    assert other.status_code == 404
    assert (
        other.json()["type"]
        == world.client.get("/v1/cases/no-such-case", headers=world.other_school_headers()).json()[
            "type"
        ]
    )
