"""The NATS configurations under deploy/ parse, and keep fsync on every write."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sexto_devstack.accounts import accounts_config, territories, users
from sexto_devstack.nats_server import nats_server_binary
from sexto_escalation.config import EscalationSettings
from sexto_events.settings import EventLogSettings
from sexto_notification.config import NotificationSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
CONFIGS = [DEPLOY / "single.conf", *sorted((DEPLOY / "cluster").glob("node-*.conf"))]
DIRECTORY = json.loads((DEPLOY.parents[0] / "seed" / "directory.json").read_text())
PASSWORDS = [u.password_variable for u in users(DIRECTORY)] + ["SYS_NATS_PASSWORD"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_nats_config_is_valid_and_fsyncs_always(config: Path) -> None:
    env = {**os.environ, **dict.fromkeys(PASSWORDS, "placeholder")}
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", config.name],
        cwd=config.parent, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "sync_interval: always" in config.read_text()


def test_the_accounts_file_is_what_the_generator_makes_of_the_directory() -> None:
    assert (DEPLOY / "accounts.conf").read_text() == accounts_config(DIRECTORY), (
        "regenerate: python -m sexto_devstack.accounts deploy/seed/directory.json "
        "> deploy/nats/accounts.conf"
    )


def test_every_territory_has_its_police_user_and_every_service_its_own() -> None:
    names = [u.name for u in users(DIRECTORY)]
    territories = [t["territory_id"] for t in DIRECTORY["territories"]]
    assert {f"dispatch-{t}" for t in territories} <= set(names)
    assert {"intake", "evaluation", "escalation", "notification"} <= set(names)
    assert len(names) == len(set(names))


def test_territories_whose_users_would_share_a_password_and_an_inbox_are_refused() -> None:
    colliding = {"territories": [{"territory_id": "a-b"}, {"territory_id": "a_b"}]}
    with pytest.raises(ValueError, match=r"\['a-b', 'a_b'\].*differ only by '-' and '_'"):
        territories(colliding)
    with pytest.raises(ValueError, match="differ only"):
        accounts_config(colliding)
    distinct = {"territories": [{"territory_id": "a-b"}, {"territory_id": "ab"}]}
    assert territories(distinct) == ["a-b", "ab"]


def test_the_example_settings_name_only_real_settings() -> None:
    """A misspelt variable would be silently ignored: every one must name a setting."""
    known = {f"SEXTO_{name.upper()}" for name in EventLogSettings.model_fields}
    known |= {f"SEXTO_NOTIFICATION_{n.upper()}" for n in NotificationSettings.model_fields}
    known |= {f"SEXTO_ESCALATION_{n.upper()}" for n in EscalationSettings.model_fields}
    lines = (DEPLOY.parent / "example.env").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    assert names
    assert [n for n in names if n not in known] == []
