"""The supervisor restarts a dead child after its backoff, counts it, and gives up on one
that keeps failing; real child processes, a clock the test moves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sexto_devstack.procs import spawn
from sexto_devstack.supervisor import KeepsFailing, RestartPolicy, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sleeper(log: Path) -> subprocess.Popen[bytes]:
    return spawn([sys.executable, "-c", "import time; time.sleep(60)"], log=log)


def quitter(log: Path) -> subprocess.Popen[bytes]:
    return spawn([sys.executable, "-c", "raise SystemExit(3)"], log=log)


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def supervisor(said: list[str], clock: Clock):  # type: ignore[no-untyped-def]
    made = Supervisor(RestartPolicy(first_backoff_s=1, max_backoff_s=4, max_failures=3,
                                    window_s=60), say=said.append, clock=clock)  # fmt: skip
    yield made
    made.stop_all()


def test_a_killed_child_is_restarted_after_its_backoff_logged_and_counted(
    supervisor: Supervisor, said: list[str], clock: Clock, tmp_path: Path
) -> None:
    first = supervisor.add("intake", lambda: sleeper(tmp_path / "intake.log"))
    other = supervisor.add("escalation", lambda: sleeper(tmp_path / "escalation.log"))
    first.kill()
    first.wait(10)

    supervisor.check()
    assert supervisor.process("intake") is None  # waits for its backoff
    assert said == ["supervisor: intake exited with code -9; restarting in 1.0s"]
    clock.now += 1.0
    supervisor.check()

    again = supervisor.process("intake")
    assert again is not None
    assert again.pid != first.pid
    assert again.poll() is None
    assert supervisor.restarts() == {"intake": 1, "escalation": 0}
    assert said[-1] == f"supervisor: restarted intake (pid {again.pid}, restart 1)"
    assert supervisor.process("escalation") is other  # the others are left alone


def test_a_child_that_keeps_failing_stops_the_supervisor(
    supervisor: Supervisor, said: list[str], clock: Clock, tmp_path: Path
) -> None:
    supervisor.add("witness", lambda: quitter(tmp_path / "witness.log"))

    def die_and_check() -> None:
        process = supervisor.process("witness")
        if process is not None:
            process.wait(10)
        supervisor.check()
        clock.now += 5

    for _ in range(6):  # 3 deaths, each followed by a restart after its backoff
        die_and_check()
    with pytest.raises(KeepsFailing, match=r"witness died 4 times within 60s \(last exit code 3\)"):
        die_and_check()
    assert supervisor.restarts()["witness"] == 3
    waits = [line.rsplit(" ", 1)[-1] for line in said if "restarting in" in line]
    assert waits == ["1.0s", "2.0s", "4.0s"]  # doubling backoff, capped at 4 s


def test_deaths_spread_out_in_time_never_give_up(
    supervisor: Supervisor, clock: Clock, tmp_path: Path
) -> None:
    supervisor.add("tree", lambda: quitter(tmp_path / "tree.log"))
    for _ in range(8):
        process = supervisor.process("tree")
        assert process is not None
        process.wait(10)
        supervisor.check()  # dies: one death in the last minute
        clock.now += 61
        supervisor.check()  # restarted
    assert supervisor.restarts()["tree"] == 8


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy(first_backoff_s=0.5, max_backoff_s=3)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_stop_all_stops_every_child_and_restarts_none(
    supervisor: Supervisor, clock: Clock, tmp_path: Path
) -> None:
    a = supervisor.add("a", lambda: sleeper(tmp_path / "a.log"))
    b = supervisor.add("b", lambda: sleeper(tmp_path / "b.log"))
    supervisor.stop_all()
    clock.now += 100
    supervisor.check()
    assert a.poll() is not None
    assert b.poll() is not None
    assert supervisor.process("a") is None
    assert supervisor.process("b") is None


def test_two_children_of_one_name_are_refused(supervisor: Supervisor, tmp_path: Path) -> None:
    supervisor.add("a", lambda: sleeper(tmp_path / "a.log"))
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.add("a", lambda: sleeper(tmp_path / "a2.log"))
