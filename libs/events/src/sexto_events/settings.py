"""Typed settings shared by every service (environment prefix SEXTO_)."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A fixed key for the embedded default and the tests only: refused in production.
DEVELOPMENT_MASTER_KEY = base64.b64encode(b"sexto-development-master-key-32b").decode()


class EventLogSettings(BaseSettings):
    """Where the log and the databases are, and the master key wrapping personal-data keys."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/sexto"
    master_key: SecretStr = SecretStr(DEVELOPMENT_MASTER_KEY)
    stream_name: str = "CASES"
    subject_root: str = "cases"
    stream_replicas: int = 1
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _check_master_key(self) -> EventLogSettings:
        raw = self.master_key.get_secret_value()
        try:
            key = base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise ValueError("SEXTO_MASTER_KEY must be base64 of 32 random bytes") from None
        if len(key) != 32:
            raise ValueError("SEXTO_MASTER_KEY must decode to exactly 32 bytes (256 bits)")
        if self.environment == "production" and raw == DEVELOPMENT_MASTER_KEY:
            raise ValueError(
                "SEXTO_MASTER_KEY is the development key: set a key of your own "
                "(32 random bytes, base64) outside development"
            )
        return self

    def master_key_bytes(self) -> bytes:
        """The decoded master key."""
        return base64.b64decode(self.master_key.get_secret_value())
