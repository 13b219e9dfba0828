"""Every expected failure of the command line is one clear line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from sexto_events.store import EventStore

from tests.cli.conftest import Cli, NewCase, write_case


def one_clear_line(output: str) -> None:
    assert "Traceback" not in output
    assert output.startswith("error: ")
    assert len(output.strip().splitlines()) == 1, output


async def test_a_bad_out_path_is_one_line(
    cli: Cli, store: EventStore, new_case: NewCase, tmp_path: Path
) -> None:
    case = new_case()
    await write_case(store, case)
    a_file = tmp_path / "file"
    a_file.write_text("x")

    export = await cli("export", case.case_id, "--out", str(a_file))
    replay = await cli("replay", "--territory", case.territory,
                       "--out", str(tmp_path / "missing" / "r.jsonl"), role="analyst")  # fmt: skip
    nested = await cli("export", case.case_id, "--out", str(a_file / "bundle"))

    assert export.exit_code == 2
    assert "is a file" in export.output
    assert replay.exit_code == 2, replay.output
    one_clear_line(replay.output)
    assert "No such file or directory" in replay.output
    assert nested.exit_code == 2, nested.output
    assert "Traceback" not in nested.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SEXTO_RETENTION_YEARS": "not json"}, "error in the settings"),
        ({"SEXTO_RETENTION_YEARS": '{"sexto-qc": "five"}'}, "error in the settings"),
        ({"SEXTO_MASTER_KEY": "short"}, "error in the settings"),
    ],
    ids=["retention-not-json", "retention-not-a-number", "master-key"],
)
async def test_bad_settings_are_one_line(cli: Cli, env: dict[str, str], expected: str) -> None:
    result = await cli("retention", "run", "--dry-run", role="admin", **env)

    assert result.exit_code == 2, result.output
    one_clear_line(result.output)
    assert expected in result.output


async def test_a_missing_stream_or_unreachable_server_is_one_line(cli: Cli) -> None:
    no_stream = await cli("history", "some-case", SEXTO_STREAM_NAME="NO_SUCH_STREAM")
    no_stream_all = await cli("verify", "--all", role="admin", SEXTO_STREAM_NAME="NO_SUCH_STREAM")
    no_server = await cli("stats", role="analyst", SEXTO_NATS_URL="nats://127.0.0.1:9")

    for result in (no_stream, no_stream_all, no_server):
        assert result.exit_code == 2, result.output
        one_clear_line(result.output)


async def test_a_refused_role_touches_no_database_and_since_zero_is_refused(
    cli: Cli, tmp_path: Path
) -> None:
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    refused = await cli("shred", "case:abc", "--reason", "erasure_request", role="analyst",
                        SEXTO_DATABASE_URL=unreachable)  # fmt: skip
    since_zero = await cli("replay", "--since", "0", "--out", str(tmp_path / "r.jsonl"))

    assert refused.exit_code == 2
    assert "PostgreSQL" not in refused.output
    assert "analyst" in refused.output
    assert since_zero.exit_code == 2
    assert "stream sequences start at 1" in since_zero.output
    assert not (tmp_path / "r.jsonl").exists()
