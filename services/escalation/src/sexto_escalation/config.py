"""Settings of the escalation service (environment prefix SEXTO_ESCALATION_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EscalationSettings(BaseSettings):
    """Deadlines per urgency, in seconds from the escalation request."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_ESCALATION_", extra="ignore")

    acknowledge_within_s: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 15 * 60.0, "high": 3600.0, "routine": 24 * 3600.0}
    )
    collect_kit_within_s: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 4 * 3600.0, "high": 24 * 3600.0, "routine": 72 * 3600.0}
    )
    check_every_s: float = 5.0
