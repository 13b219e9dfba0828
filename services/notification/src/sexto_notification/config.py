"""Settings of the notification service (environment prefix SEXTO_NOTIFICATION_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    """Retries, webhook and e-mail transport settings."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_NOTIFICATION_", extra="ignore")

    # Retries: attempt n waits min(cap, base * 2**(n-1)) scaled by a random jitter factor;
    # after `max_attempts` the delivery is recorded as failed (and can be retried by hand).
    max_attempts: int = Field(default=10, ge=1, le=50)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_cap_s: float = Field(default=3600.0, gt=0)
    jitter: float = Field(default=0.25, ge=0, le=1, description="± share of each delay")
    request_timeout_s: float = Field(default=10.0, gt=0)
    concurrency: int = Field(default=32, ge=1, le=512)
    poll_s: float = Field(default=1.0, gt=0, description="due retries are looked for this often")
    lease_s: float = Field(default=60.0, gt=0, description="a claimed delivery's lease")
    secret_overlap_s: float = Field(default=24 * 3600.0, ge=0, le=7 * 24 * 3600.0)
    # Plain http:// (and loopback or private addresses) only for development and tests.
    allow_insecure_urls: bool = False

    # E-mail: an SMTP server from configuration; without one (the embedded default) each
    # message is written as an .eml file to `mail_dir`.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "sexto@localhost"
    mail_dir: Path = Path(".data/mail")

    @model_validator(mode="after")
    def _attempts_end_within_their_lease(self) -> NotificationSettings:
        # An attempt is cut off at half its lease, so no other replica can take the same
        # delivery while it runs; a request must fit well within that.
        if self.lease_s < 2 * self.request_timeout_s + 5:
            raise ValueError("lease_s must be at least 2 * request_timeout_s + 5")
        return self
