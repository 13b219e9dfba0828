"""Settings of the tree process (environment prefix SEXTO_TLOG_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TreeSettings(BaseSettings):
    """The log's origin and signing key, its witnesses, and how often it checkpoints."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_TLOG_", extra="ignore")

    origin: str = Field(
        default="sexto.local/cases",
        description="the checkpoint origin line: names this log, one per deployment",
    )
    key_file: Path = Field(
        default=Path(".data/tlog/log.key"),
        description="the log's signing key (created on first start); keep it off the log's "
        "servers' backups and publish its verifier key",
    )
    witnesses: list[str] = Field(
        default_factory=list, description="verifier keys of the witnesses asked to cosign"
    )
    checkpoint_interval_s: float = Field(default=10.0, gt=0)
    batch: int = Field(default=1000, ge=1, le=10_000)
    idle_wait_s: float = Field(default=0.05, gt=0)
    witness_timeout_s: float = Field(default=5.0, gt=0)
    request_wait_s: float = Field(
        default=10.0, gt=0, description="how long a request waits for the tree to reach the "
        "stream sequence it asks about before answering `not_yet`",
    )  # fmt: skip
    checkpoint_stream: str = "CHECKPOINTS"
