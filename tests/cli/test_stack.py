"""The command line finds the stack of `make run` without flags, and a server it cannot
reach is one sentence naming the variable to set."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sexto_cli.failures import CliError
from sexto_cli.main import app
from sexto_cli.stack import find_stack
from sexto_devstack.nats_server import NatsServer
from sexto_devstack.postgres import EmbeddedPostgres
from sexto_devstack.stackfile import (
    StackDescription,
    remove_stack_file,
    stack_file,
    write_stack_file,
)
from sexto_events.store import EventStore
from typer.testing import CliRunner

from tests.cli.conftest import NewCase, write_case
from tests.cli.test_errors import one_clear_line
from tests.conftest import MASTER_KEY

SERVER_VARIABLES = ("SEXTO_NATS_URL", "SEXTO_DATABASE_URL", "SEXTO_AUTH_LOCAL_KEY_FILE")


def a_dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def describe(data_dir: Path, nats_url: str, database_url: str, key: Path, pid: int) -> Path:
    return write_stack_file(
        StackDescription(data_dir, nats_url, database_url, key, {"intake": "http://x"}, pid=pid)
    )


def test_a_running_stack_file_gives_the_addresses_and_the_issuer_key(tmp_path: Path) -> None:
    data = tmp_path / ".data"
    key = data / "issuer" / "ed25519.pem"
    path = describe(data, "nats://127.0.0.1:24222", "postgresql://p@127.0.0.1:25432/s", key, pid=1)

    found = find_stack({}, tmp_path / "deeper" / "still")  # a parent's .data is found too
    found_by_variable = find_stack({"SEXTO_DATA_DIR": str(data)}, Path("/"))

    assert path.stat().st_mode & 0o777 == 0o600
    for each in (found, found_by_variable):
        assert each.stack is not None
        assert each.nats.url == "nats://127.0.0.1:24222"
        assert each.database.url == "postgresql://p@127.0.0.1:25432/s"
        assert each.issuer_key_file == key
        assert str(path) in each.nats.origin


def test_a_stack_whose_supervisor_is_gone_is_ignored_for_make_runs_defaults(
    tmp_path: Path,
) -> None:
    data = tmp_path / ".data"
    describe(data, "nats://127.0.0.1:24222", "postgresql://p@h:1/s", data / "k", a_dead_pid())

    found = find_stack({"NATS_PORT": "4333", "PG_PORT": "5444"}, tmp_path)

    assert found.stack is None
    assert found.data_dir == data
    assert found.nats.url == "nats://127.0.0.1:4333"
    assert found.database.url == "postgresql://postgres@127.0.0.1:5444/sexto"
    assert "SEXTO_NATS_URL" in found.nats.advice
    assert "make run" in found.nats.advice


@pytest.mark.parametrize(
    ("content", "environ", "expected"),
    [
        ("{not json", {}, "is not a stack file"),
        ('{"format": 2}', {}, "is not a stack file"),
        (None, {"NATS_PORT": "eighty"}, "NATS_PORT='eighty' is not a port number"),
    ],
    ids=["not-json", "unknown-format", "bad-port"],
)
def test_a_damaged_stack_file_or_a_bad_port_is_a_clear_refusal(
    tmp_path: Path, content: str | None, environ: dict[str, str], expected: str
) -> None:
    if content is not None:
        (tmp_path / ".data").mkdir()
        stack_file(tmp_path / ".data").write_text(content)
        stack_file(tmp_path / ".data").chmod(
            0o600
        )  # the supervisor's mode: only the content is off

    with pytest.raises(CliError, match=expected):
        find_stack(environ, tmp_path)


def test_the_supervisor_removes_only_its_own_stack_file(tmp_path: Path) -> None:
    describe(tmp_path, "nats://a:1", "postgresql://b:2/c", tmp_path / "k", pid=1)

    assert not remove_stack_file(tmp_path)  # another supervisor's (pid 1): kept
    assert stack_file(tmp_path).exists()
    assert remove_stack_file(tmp_path, pid=1)
    assert not stack_file(tmp_path).exists()


def run_without_server_variables(tmp_path: Path, *args: str, **env: str) -> str:
    environment: dict[str, str | None] = {
        "SEXTO_ENVIRONMENT": "test",
        "SEXTO_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
        "COLUMNS": "200",
        **dict.fromkeys(SERVER_VARIABLES),  # unset: the stack must be found
        **env,
    }
    result = CliRunner().invoke(app, list(args), env=environment)
    return f"{result.exit_code}\n{result.output}"


async def test_the_command_line_uses_the_running_stack_without_any_flag(
    tmp_path: Path,
    nats_server: NatsServer,
    postgres: EmbeddedPostgres,
    issuer_key_file: Path,
    store: EventStore,
    new_case: NewCase,
) -> None:
    case = new_case()
    await write_case(store, case)
    data = tmp_path / ".data"
    describe(data, nats_server.url, postgres.dsn, issuer_key_file, pid=1)

    outcome = await asyncio.to_thread(
        run_without_server_variables, tmp_path, "--role", "legal_reviewer",
        "verify", "--case", case.case_id, SEXTO_DATA_DIR=str(data),
    )  # fmt: skip

    code, output = outcome.split("\n", 1)
    assert code == "0", output
    assert "chain verified" in output


@pytest.mark.parametrize(
    ("env", "server", "variable"),
    [
        ({"NATS_PORT": "9"}, "NATS at nats://127.0.0.1:9", "SEXTO_NATS_URL"),
        ({"SEXTO_NATS_URL": "nats://127.0.0.1:9"}, "NATS", "SEXTO_NATS_URL"),
    ],
    ids=["no-stack-running", "variable-set"],
)
async def test_a_server_that_cannot_be_reached_is_one_sentence_naming_the_variable(
    tmp_path: Path, issuer_key_file: Path, env: dict[str, str], server: str, variable: str
) -> None:
    outcome = await asyncio.to_thread(
        run_without_server_variables, tmp_path, "--role", "analyst", "stats",
        SEXTO_DATA_DIR=str(tmp_path / "none"),
        SEXTO_AUTH_LOCAL_KEY_FILE=str(issuer_key_file), **env,
    )  # fmt: skip

    code, output = outcome.split("\n", 1)
    assert code == "2", output
    one_clear_line(output)
    assert f"could not connect to {server}" in output
    assert "connection refused" in output
    assert variable in output


def test_the_stack_file_format_is_what_the_reader_expects(tmp_path: Path) -> None:
    path = describe(tmp_path, "nats://a:1", "postgresql://b:2/c", tmp_path / "k", pid=7)

    content = json.loads(path.read_text())

    assert content["format"] == 1
    assert set(content) == {"format", "pid", "started_at", "data_dir", "nats_url",
                            "database_url", "issuer_key_file", "services"}  # fmt: skip


def test_a_stack_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = describe(tmp_path / ".data", "nats://a:1", "postgresql://b:2/c", tmp_path / "k", pid=1)
    path.chmod(0o644)

    with pytest.raises(CliError, match="is not yours alone"):
        find_stack({}, tmp_path)
