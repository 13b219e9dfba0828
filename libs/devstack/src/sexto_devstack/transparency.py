"""The transparency log's two processes for `make run` and the tests: the tree (appends the
CASES stream to the Merkle tree, signs checkpoints) and one witness (cosigns them).

Each keeps its key in a file of its own under the data folder (created on first start),
the log's apart from the witness's; the log's verifier key is printed and written to
`<data>/tlog/log.vkey` for reviewers, the witness's to `<data>/witness/witness.vkey`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sexto_legal.tlog_check import SIG_COSIGNATURE_V1, SIG_ED25519
from sexto_legal.transparency.signing import load_or_create

from sexto_devstack.procs import spawn
from sexto_devstack.supervisor import Start, Supervisor

ORIGIN = "sexto.local/cases"
WITNESS = "witness.sexto.local/w1"
READY_TIMEOUT_S = 30.0


def transparency_env(data_dir: Path, origin: str = ORIGIN) -> dict[str, str]:
    """Create the keys if missing; the environment both processes read."""
    log_key = load_or_create(data_dir / "tlog" / "log.key", origin, SIG_ED25519).verifier
    witness_key = load_or_create(
        data_dir / "witness" / "witness.key", WITNESS, SIG_COSIGNATURE_V1
    ).verifier
    (data_dir / "tlog" / "log.vkey").write_text(log_key.vkey() + "\n")
    (data_dir / "witness" / "witness.vkey").write_text(witness_key.vkey() + "\n")
    return {
        "SEXTO_TLOG_ORIGIN": origin,
        "SEXTO_TLOG_KEY_FILE": str(data_dir / "tlog" / "log.key"),
        "SEXTO_TLOG_WITNESSES": json.dumps([witness_key.vkey()]),
        "SEXTO_WITNESS_NAME": WITNESS,
        "SEXTO_WITNESS_KEY_FILE": str(data_dir / "witness" / "witness.key"),
        "SEXTO_WITNESS_STATE_FILE": str(data_dir / "witness" / "latest-checkpoint"),
        "SEXTO_WITNESS_LOG_VKEY": log_key.vkey(),
        "SEXTO_WITNESS_ORIGIN": origin,
    }


def _wait_for_line(proc: subprocess.Popen[bytes], log: Path, prefix: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{log.stem} exited during start-up:\n{tail}")
        if log.exists() and any(
            line.startswith(prefix) for line in log.read_text(errors="replace").splitlines()
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{log.stem} not ready after {READY_TIMEOUT_S:.0f}s; see {log}")


def start_transparency(
    env: dict[str, str],
    logs: Path,
    supervisor: Supervisor,
    *,
    nats_url: str | None = None,
    witness_nats_url: str | None = None,
) -> None:
    """Start the witness, then the tree, under the supervisor (restarted if they die), and
    wait until both are ready. The logs are started afresh so readiness is this run's.
    The witness joins the log's NATS servers (in production it is run by someone else);
    with accounts, each connects as its own user (`nats_url`, `witness_nats_url`)."""
    tree_env = {**env, "SEXTO_NATS_URL": nats_url or env["SEXTO_NATS_URL"]}
    witness_env = {
        **tree_env,
        "SEXTO_WITNESS_NATS_URL": witness_nats_url or tree_env["SEXTO_NATS_URL"],
    }
    for name, module, ready, child_env in (
        ("witness", "sexto_legal.transparency.witness", "witness ", witness_env),
        ("tlog", "sexto_legal.transparency.tree", "tree ", tree_env),
    ):
        log = logs / f"{name}.log"
        log.unlink(missing_ok=True)
        proc = supervisor.add(name, _starter(module, log, child_env))
        _wait_for_line(proc, log, ready)
    log_key, witness = env["SEXTO_WITNESS_LOG_VKEY"], env["SEXTO_WITNESS_NAME"]
    print(f"transparency   log key {log_key}, witness {witness}", flush=True)


def _starter(module: str, log: Path, env: dict[str, str]) -> Start:
    def start() -> subprocess.Popen[bytes]:
        return spawn([sys.executable, "-m", module], log=log, env=env)

    return start
