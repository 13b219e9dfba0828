"""`make run`'s supervisor: all four services ready, clean stop, same data on restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nats
import pytest
from sexto_devstack.procs import free_port, port_free
from sexto_events.catalogue.audit import CaseRead
from sexto_events.disclosure import POLICY_VERSION
from sexto_events.model import CaseRef, NewEvent
from sexto_events.principal import Role
from sexto_events.store import EventStore
from sexto_service.auth.issuer import ensure_key, mint

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["NATS_PORT", "PG_PORT", "INTAKE_PORT", "EVALUATION_PORT", "ESCALATION_PORT",
         "NOTIFICATION_PORT"]  # fmt: skip


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(tmp_path, 0o755)
    env = {**os.environ, "SEXTO_DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)
    env.update({name: str(free_port()) for name in NAMES})
    return env


def start(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sexto_devstack.run"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "all services ready" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("stack not ready in 60 s:\n" + "\n".join(lines))


def stop(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return out


def children_of_data_dir(data: str) -> list[str]:
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = status.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if data in cmdline:
            found.append(cmdline)
    return found


async def write_and_count(nats_url: str, case: CaseRef, write: bool) -> int:
    nc = await nats.connect(nats_url)
    store = EventStore(nc, source="sexto/tests")
    loaded = await store.load(case)
    if write:
        await store.append(case, [note_without_personal_data()], loaded.version)
        loaded = await store.load(case)
    await store.close()
    await nc.close()
    return len(loaded.events)


def note_without_personal_data() -> NewEvent:
    # No key vault in this check: an event without personal data.
    return NewEvent(
        CaseRead(view="state", service="intake", policy_version=POLICY_VERSION),
        "analyst-1",
        "analyst",
    )


def report_a_case_over_http(env: dict[str, str]) -> None:
    """The seeded directory lets its certified intervener report a SEXTO case."""
    key = ensure_key(Path(env["SEXTO_DATA_DIR"]) / "issuer" / "ed25519.pem")
    token = mint(key, role=Role.INTERVENER, subject="iv-demo-1", school="ecole-des-erables")
    body = {
        "protocol": "sexto-qc",
        "school_id": "ecole-des-erables",
        "discovered_at": "2026-11-02T09:30:00-05:00",
        "discovery_channel": "staff_observation",
        "summary": "A staff member saw students passing a phone around.",
        "students": [{"name": "Nérée Fauxnom", "role": "depicted", "age": 13}],
    }
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "make-run-check-1"}
    response = httpx.post(
        f"http://127.0.0.1:{env['INTAKE_PORT']}/v1/cases", json=body, headers=headers
    )
    assert response.status_code == 201, response.text


@pytest.mark.slow
def test_run_starts_everything_stops_cleanly_and_resumes_with_the_same_data(
    stack_env: dict[str, str],
) -> None:
    proc, lines = start(stack_env)
    output = "\n".join(lines)
    for name, port in (
        ("intake", stack_env["INTAKE_PORT"]),
        ("notification", stack_env["NOTIFICATION_PORT"]),
    ):
        assert f"http://127.0.0.1:{port}/docs" in output
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, name
    assert "fictional entries seeded from deploy/seed/" in output
    report_a_case_over_http(stack_env)
    nats_url = f"nats://127.0.0.1:{stack_env['NATS_PORT']}"
    case = CaseRef("spvm", "resume-check")
    assert asyncio.run(write_and_count(nats_url, case, write=True)) == 1

    assert "stopped" in stop(proc, signal.SIGINT)
    assert proc.returncode == 0
    assert children_of_data_dir(stack_env["SEXTO_DATA_DIR"]) == []
    assert all(port_free(int(stack_env[n])) for n in NAMES)

    proc, lines = start(stack_env)
    assert not any("seeded" in line for line in lines)  # the directory is kept, not re-seeded
    try:
        assert asyncio.run(write_and_count(nats_url, case, write=False)) == 1
    finally:
        stop(proc, signal.SIGTERM)
    assert children_of_data_dir(stack_env["SEXTO_DATA_DIR"]) == []


def test_a_taken_port_is_named_with_how_to_choose_another(stack_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(stack_env["ESCALATION_PORT"])))
        busy.listen()
        result = subprocess.run(
            [sys.executable, "-m", "sexto_devstack.run"],
            cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert result.returncode != 0
    port = stack_env["ESCALATION_PORT"]
    assert f"port {port} (ESCALATION_PORT) is already in use" in result.stderr
    assert "make run ESCALATION_PORT=" in result.stderr


def pid_listening_as(port: str) -> int:
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = status.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"uvicorn" in b" ".join(cmdline) and port.encode() in cmdline:
            return int(status.parent.name)
    raise AssertionError(f"no service on port {port}")


@pytest.mark.slow
def test_a_killed_service_is_restarted_and_answers_again(stack_env: dict[str, str]) -> None:
    proc, _ = start(stack_env)
    try:
        os.kill(pid_listening_as(stack_env["INTAKE_PORT"]), signal.SIGKILL)
        assert proc.stdout is not None
        seen = [proc.stdout.readline().rstrip() for _ in range(2)]
        assert seen[0] == "supervisor: intake exited with code -9; restarting in 0.5s"
        assert seen[1].startswith("supervisor: restarted intake (pid ")
        deadline = time.monotonic() + 60
        ready = 0
        while time.monotonic() < deadline and ready != 200:
            try:
                ready = httpx.get(f"http://127.0.0.1:{stack_env['INTAKE_PORT']}/readyz").status_code
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ready == 200
        report_a_case_over_http(stack_env)
    finally:
        out = stop(proc, signal.SIGINT)
    assert "restarts: intake 1" in out
    assert proc.returncode == 0
    assert children_of_data_dir(stack_env["SEXTO_DATA_DIR"]) == []
