"""Keep a list of child processes up: a dead one is restarted with backoff, logged and counted.

The supervisor knows nothing of what it runs: each child is a name and a function that
starts it, so `make run` hands it the services, and any extra process (a transparency-log
tree, a witness) the same way. It gives up, and the caller stops everything, only when one
child keeps failing: more than `max_failures` deaths within `window_s`.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sexto_devstack.procs import stop

Start = Callable[[], subprocess.Popen[bytes]]


class KeepsFailing(RuntimeError):
    """A child died too often in too short a time: restarting it again would only hide it."""


@dataclass(frozen=True)
class RestartPolicy:
    """How soon a dead child is restarted, and when to stop trying."""

    first_backoff_s: float = 0.5
    max_backoff_s: float = 15.0
    max_failures: int = 5
    window_s: float = 60.0

    def backoff(self, consecutive: int) -> float:
        """The wait before the `consecutive`-th restart in a row (doubling, capped)."""
        return float(min(self.first_backoff_s * 2.0 ** max(consecutive - 1, 0), self.max_backoff_s))


@dataclass
class Child:
    """One supervised process and its restart record."""

    name: str
    start: Start
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None


class Supervisor:
    """Starts children, restarts the dead ones, stops them all in reverse order."""

    def __init__(
        self,
        policy: RestartPolicy | None = None,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.children: dict[str, Child] = {}
        self._say = say
        self._clock = clock

    def add(self, name: str, start: Start) -> subprocess.Popen[bytes]:
        """Start a child now and keep it up from then on."""
        if name in self.children:
            raise ValueError(f"a child named {name!r} is already supervised")
        child = Child(name, start)
        self.children[name] = child
        child.process = start()
        return child.process

    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        """The running process of a child (None while it waits for its restart)."""
        return self.children[name].process

    def restarts(self) -> dict[str, int]:
        """How many times each child was restarted."""
        return {name: child.restarts for name, child in self.children.items()}

    def check(self) -> None:
        """Notice deaths and restart children whose backoff has passed; raise KeepsFailing."""
        now = self._clock()
        for child in self.children.values():
            if child.process is not None and child.process.poll() is not None:
                self._died(child, now)
            if child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                child.process = child.start()
                child.restarts += 1
                self._say(
                    f"supervisor: restarted {child.name} "
                    f"(pid {child.process.pid}, restart {child.restarts})"
                )

    def _died(self, child: Child, now: float) -> None:
        assert child.process is not None
        code = child.process.returncode
        child.process = None
        child.deaths.append(now)
        while child.deaths and now - child.deaths[0] > self.policy.window_s:
            child.deaths.popleft()
        if len(child.deaths) > self.policy.max_failures:
            raise KeepsFailing(
                f"{child.name} died {len(child.deaths)} times within "
                f"{self.policy.window_s:.0f}s (last exit code {code}); see its log"
            )
        wait = self.policy.backoff(len(child.deaths))
        child.restart_at = now + wait
        self._say(f"supervisor: {child.name} exited with code {code}; restarting in {wait:.1f}s")

    def stop_all(self) -> None:
        """Stop every child, the last started first."""
        for child in reversed(self.children.values()):
            child.restart_at = None
            if child.process is not None:
                stop(child.process)
                child.process = None
