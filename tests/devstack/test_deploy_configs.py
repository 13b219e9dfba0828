"""The NATS configurations under deploy/ parse, and keep fsync on every write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sexto_devstack.nats_server import nats_server_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
CONFIGS = [DEPLOY / "single.conf", *sorted((DEPLOY / "cluster").glob("node-*.conf"))]
PASSWORDS = ["INTAKE", "EVALUATION", "ESCALATION", "NOTIFICATION", "DISPATCH_SPVM", "SYS"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_nats_config_is_valid_and_fsyncs_always(config: Path) -> None:
    env = {**os.environ, **{f"{name}_NATS_PASSWORD": "placeholder" for name in PASSWORDS}}
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", config.name],
        cwd=config.parent, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "sync_interval: always" in config.read_text()
