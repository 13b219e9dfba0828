"""One shape for every row of the bench table, medians over rounds, and peak memory.

Each row keeps the same keys run after run (`name`, `unit`, `ours`, `baseline`,
`baseline_name`, `ratio`, `target`, `met`) so results can be compared over time; `ratio`
is always "how many times better than the baseline" (rates: ours / baseline; latencies and
memory: baseline / ours).
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
"""Rounds of each noisy figure; the table shows the median."""


def row(
    name: str,
    unit: str,
    ours: float,
    baseline: float,
    baseline_name: str,
    *,
    lower_is_better: bool = False,
    at_least: float | None = None,
    ceiling: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A row; the target is a ratio `at_least` or an absolute `ceiling` on ours, and `met`
    says whether it was reached (None: no target)."""
    ratio = baseline / ours if lower_is_better else ours / baseline
    target, met = "", None
    if at_least is not None:
        target, met = f">= {at_least:g}x", ratio >= at_least
    if ceiling is not None:
        target, met = f"<= {ceiling:g} {unit}", ours <= ceiling
    return {
        "name": name,
        "unit": unit,
        "ours": ours,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "ratio": ratio,
        "target": target,
        "met": met,
        **extra,
    }


def median(samples: list[float]) -> float:
    """The median of a figure's rounds."""
    return statistics.median(samples)


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """A live process's CPU time so far, user and system, in seconds (its threads too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_peak_rss_mb(args: list[str], env: dict[str, str], log: Path) -> tuple[int, float]:
    """Run a command to its end: its exit status and peak resident set size in MB."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


@contextmanager
def heap_frozen() -> Iterator[None]:
    """The bench's own heap (its set-up and seeding) left out of full collections while a
    figure and its baseline are measured, as a started service or `sexto` command leaves its
    start-up heap (sexto_service.runtime.freeze_start_up); nothing if already frozen."""
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def cpu_per_10k(cpu_s: float, events: int) -> float:
    """This process's CPU seconds (time.process_time) per 10,000 events."""
    return round(cpu_s * 10_000 / max(events, 1), 3)
