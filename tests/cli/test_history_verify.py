"""History as of a time, pseudonymised for analysts; chains verified per case and log-wide."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from nats.aio.client import Client
from sexto_events.catalogue.intake import NoteAdded
from sexto_events.model import NewEvent
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_legal.verification import verify_case, verify_log
from sexto_service.auth.issuer import ensure_key, mint

from tests.cli.conftest import Cli, NewCase, at, output_json, write_case
from tests.support.events import INVENTED_NAME
from tests.support.raw import copy_case
from tests.support.transparency import TreeRun


async def test_as_of_shows_exactly_what_was_recorded_by_then(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    ids = await write_case(store, case)

    then = output_json(await cli("history", case.case_id, "--as-of", at(2).isoformat(), "--json"))
    now = output_json(await cli("history", case.case_id, "--json"))

    # recorded at 0, 0.5, 1 and 2 hours: the kit (5 h) and the decision (30 h) came later
    assert [e["id"] for e in then["events"]] == ids[:4]
    assert [e["id"] for e in now["events"]][: len(ids)] == ids
    # the first read is on the record (the second read shows it), the as-of view did not show it
    assert now["events"][len(ids)]["type"] == "org.sexto.audit.case_read.v2"
    assert now["events"][len(ids)]["actor"] == "legal_reviewer-test"
    assert then["chain_verified"]
    assert now["chain_verified"]
    assert then["events"][0]["data"]["students"][0]["name"] == INVENTED_NAME


async def test_analysts_see_pseudonyms_and_no_personal_data(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)

    first = await cli("history", case.case_id, "--json", role="analyst")
    again = output_json(await cli("history", case.case_id, "--json", role="analyst"))
    shown = output_json(first)

    text = first.stdout
    assert INVENTED_NAME not in text
    assert "first incident" not in text
    assert "stu-1" not in text
    assert "intervener-7" not in text
    # not even where the command echoes the id asked for: a keyed pseudonym, as in REST
    assert case.case_id not in text
    assert shown["case_id"] == again["case_id"] != case.case_id
    report = shown["events"][0]["data"]
    assert report["summary"] == {"withheld": True}
    assert report["students"][0]["name"] == {"withheld": True}
    # stable pseudonyms: the same student and actor map to the same token every time
    assert (
        report["students"][0]["student_ref"]
        == again["events"][0]["data"]["students"][0]["student_ref"]
    )
    assert shown["events"][0]["actor"] == shown["events"][1]["actor"]
    assert not shown["personal_data_shown"]


async def test_the_table_names_time_actor_role_and_event(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)

    result = await cli("history", case.case_id)

    assert result.exit_code == 0, result.output
    assert "intake.case_reported.v2" in result.stdout
    assert "escalation.kit_collected.v1" in result.stdout
    assert "prosecutor" in result.stdout
    assert "chain verified" in result.stdout


async def test_verify_reports_the_first_broken_position_of_each_case(
    nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    sound, broken = new_case(), new_case()
    await write_case(store, sound)
    await write_case(store, broken)
    # Tampering happens on a stream of the test's own: the real log refuses it.
    await copy_case(nc, await store.read_raw(sound), side_store, sound)
    bodies = await store.read_raw(broken)
    await copy_case(nc, bodies[:2] + bodies[3:], side_store, broken)

    one = await verify_case(side_store, broken)
    every = await verify_log(nc, side_store.spec)

    assert (one.ok, one.position) == (False, 2)
    assert one.event_id == json.loads(bodies[3].body)["id"]
    assert (every.events, every.cases) == (11, 2)
    assert set(every.broken) == {f"{broken.territory}/{broken.case_id}"}
    assert every.broken[f"{broken.territory}/{broken.case_id}"].position == 2
    assert (await verify_case(side_store, sound)).ok


async def test_verify_all_walks_the_whole_log(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)

    one = await cli("verify", "--case", case.case_id, role="analyst")
    every = await cli("verify", "--all", role="admin")

    assert one.exit_code == 0
    assert "chain verified" in one.stdout
    assert every.exit_code == 0, every.output
    assert "all chains verified" in every.stdout


async def test_an_unknown_case_is_a_clear_error(cli: Cli) -> None:
    result = await cli("history", "no-such-case")

    assert result.exit_code == 2
    assert "no case no-such-case in the log" in result.output


async def test_no_credentials_no_access(cli: Cli, store: EventStore, new_case: NewCase) -> None:
    case = new_case()
    await write_case(store, case)

    anonymous = await cli("history", case.case_id, role=None)
    forged = await cli("--token", "not-a-jwt", "history", case.case_id, role=None)
    unscoped = await cli("history", case.case_id, role="intervener")
    intervener = await cli("--scope", "school-042", "history", case.case_id, role="intervener")

    assert unscoped.exit_code == 2
    assert "has no school claim" in unscoped.output
    assert anonymous.exit_code == 2
    assert "pass --token" in anonymous.output
    assert forged.exit_code == 2
    assert "the token was refused" in forged.output
    assert intervener.exit_code == 2
    assert "is for the roles" in intervener.output


async def test_a_token_of_the_issuer_is_accepted_and_role_is_refused_in_production(
    cli: Cli, issuer_key_file: Path, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(store, case)
    token = mint(ensure_key(issuer_key_file), role=Role.ANALYST, subject="an-7")

    with_token = await cli("--token", token, "verify", "--case", case.case_id, role=None)
    in_production = await cli("verify", "--case", case.case_id, role="admin",
                              SEXTO_ENVIRONMENT="production")  # fmt: skip

    assert with_token.exit_code == 0, with_token.output
    assert in_production.exit_code == 2
    assert "--role is refused in production" in in_production.output


async def test_as_of_is_a_prefix_of_the_log_even_when_times_go_back(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    ids = await write_case(store, case)
    # recorded last, with a time before the escalation's (a skewed clock, an import)
    version = (await store.load(case)).version
    late = NewEvent(NoteAdded(text="late note"), "intervener-7", "intervener", time=at(1.5))
    await store.append(case, [late], version)

    then = output_json(await cli("history", case.case_id, "--as-of", at(2).isoformat(), "--json"))

    assert [e["id"] for e in then["events"]] == ids[:4]


async def test_the_installed_sexto_command_runs(
    cli: Cli, store: EventStore, new_case: NewCase
) -> None:
    """The console script itself (not only the typer app in-process)."""
    case = new_case()
    await write_case(store, case)
    sexto = Path(sys.executable).parent / "sexto"
    env = {**os.environ, **cli.env}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(sexto), "--role", "analyst", "--as", "an-exe", *args],
            env=env, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip

    checked = await asyncio.to_thread(run, "verify", "--case", case.case_id)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "chain verified" in checked.stdout
    missing = await asyncio.to_thread(run, "history", "no-such-case")
    assert missing.returncode == 2
    assert "Traceback" not in missing.stdout + missing.stderr


async def test_verify_names_a_broken_case_as_each_role_may_see_it(
    cli: Cli, nc: Client, store: EventStore, side_store: EventStore, new_case: NewCase,
    tree: TreeRun,
) -> None:  # fmt: skip
    case = new_case()
    await write_case(store, case)
    bodies = await store.read_raw(case)
    await copy_case(nc, bodies[:2] + bodies[3:], side_store, case)
    side = {"SEXTO_STREAM_NAME": side_store.spec.name,
            "SEXTO_SUBJECT_ROOT": side_store.spec.subject_root}  # fmt: skip
    first_bad = json.loads(bodies[3].body)["id"]

    reviewer = await cli("verify", "--all", **side)
    analyst = await cli("verify", "--all", role="analyst", **side)
    one = await cli("verify", "--case", case.case_id, role="analyst", **side)
    admin = await cli("verify", "--all", role="admin", **side)

    assert (reviewer.exit_code, analyst.exit_code, one.exit_code, admin.exit_code) == (1, 1, 1, 1)
    assert f"{case.territory}/{case.case_id}" in reviewer.stdout
    for result in (analyst, one, admin):
        assert case.case_id not in result.stdout
        assert "chain BROKEN" in result.stdout
    assert first_bad in analyst.stdout  # event ids are the record's own bookkeeping
    assert case.territory in analyst.stdout
    pseudonym = analyst.stdout.split(f"{case.territory}/")[1].split()[0]
    assert f"case {pseudonym} at position 2" in one.stdout  # the same pseudonym
    # Admins see no case: the territory (the directory's) and the event id (the record's
    # bookkeeping) only.
    assert f'{case.territory}/{{"withheld": true}}' in admin.stdout
    assert first_bad in admin.stdout
