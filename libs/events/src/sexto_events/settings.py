"""Typed settings shared by every service (environment prefix SEXTO_)."""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sexto_events.disclosure import Pseudonymiser
from sexto_events.epoch_lease import DEFAULT_LEASE_S

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
    stream_replicas: int = Field(default=1, ge=1, le=5)
    nats_monitor_urls: str = Field(
        default="",
        description="comma-separated monitoring endpoints (http://host:8222) of every NATS "
        "server: readiness checks that each reports fsync on every write (/varz)",
    )
    log_level: str = "INFO"
    key_lease_s: float = Field(
        default=DEFAULT_LEASE_S,
        ge=0,
        le=60,
        description="seconds a process trusts the shred epoch it read without reading it "
        "again; every shred waits, after its commit, the longest lease any process sharing "
        "the key database has recorded there (set it alike everywhere: a longer one "
        "anywhere slows every shred); 0 reads the epoch at every use of a cached key",
    )
    analysis_key: SecretStr | None = Field(
        default=None,
        description="base64 of 16 or more random bytes keying analysts' pseudonyms; unset, "
        "a key derived from the master key. Pseudonyms made under one key join with each "
        "other (REST and command line alike) and tell nothing about those of another key",
    )

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
        if (
            self.environment == "production"
            and self.stream_replicas > 1
            and not self.nats_monitor_urls.strip()
        ):
            raise ValueError(
                f"SEXTO_STREAM_REPLICAS is {self.stream_replicas} but SEXTO_NATS_MONITOR_URLS "
                "is empty: list every NATS server's monitoring endpoint (http://host:8222), "
                "without which readiness cannot check that each fsyncs every write"
            )
        if self.analysis_key is not None:
            try:
                analysis = base64.b64decode(self.analysis_key.get_secret_value(), validate=True)
            except binascii.Error:
                raise ValueError("SEXTO_ANALYSIS_KEY must be base64 of 16 or more bytes") from None
            if len(analysis) < 16:
                raise ValueError("SEXTO_ANALYSIS_KEY must decode to 16 bytes or more")
        return self

    def pseudonymiser(self) -> Pseudonymiser:
        """Analysts' keyed pseudonyms, under the analysis key."""
        if self.analysis_key is not None:
            return Pseudonymiser(base64.b64decode(self.analysis_key.get_secret_value()))
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sexto-pseudonyms-v1")
        return Pseudonymiser(hkdf.derive(self.master_key_bytes()))

    def master_key_bytes(self) -> bytes:
        """The decoded master key."""
        return base64.b64decode(self.master_key.get_secret_value())
