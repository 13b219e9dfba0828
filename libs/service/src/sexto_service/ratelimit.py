"""Bounded use (OWASP API4): each caller's writes are limited, per service instance.

A token bucket per caller (the token's `sub`): `burst` writes at once, refilled at `per_minute`.
A write beyond it is a 429 problem with `Retry-After` (seconds), before anything is read or
written. Reads are not limited here: they are cheap and their audit records are the caller's
own. The limits are per process; a fleet of instances admits that many times more.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from pydantic_settings import BaseSettings, SettingsConfigDict


class RateLimitSettings(BaseSettings):
    """SEXTO_RATE_WRITES_PER_MINUTE and SEXTO_RATE_WRITES_BURST; 0 per minute: no limit."""

    model_config = SettingsConfigDict(env_prefix="SEXTO_RATE_", extra="ignore")

    writes_per_minute: int = 1200
    writes_burst: int = 200


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class WriteLimiter:
    """The buckets of one service instance."""

    per_minute: int
    burst: int
    # Least recently used first: a caller being throttled now is never the one forgotten.
    buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)
    max_callers: int = 100_000  # idle buckets are dropped beyond this (memory bound)

    @classmethod
    def from_settings(cls, settings: RateLimitSettings) -> WriteLimiter:
        """The limiter the settings describe."""
        return cls(settings.writes_per_minute, max(1, settings.writes_burst))

    def retry_after(self, caller: str, now: float | None = None) -> int | None:
        """Take one write for `caller`: None if admitted, else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        bucket = self.buckets.get(caller)
        if bucket is None:
            while len(self.buckets) >= self.max_callers:
                self.buckets.popitem(last=False)  # the longest idle
            bucket = self.buckets[caller] = _Bucket(float(self.burst), now)
        self.buckets.move_to_end(caller)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))
