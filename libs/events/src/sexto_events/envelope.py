"""The stored form of every event: a CloudEvents 1.0 structured-mode JSON envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sexto_events.chain import canonical_body, compute_hash

CONTENT_TYPE = "application/cloudevents+json"
SPEC_VERSION: Literal["1.0"] = "1.0"
DATA_CONTENT_TYPE: Literal["application/json"] = "application/json"


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the one time format of the log."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    # isoformat is several times faster than strftime("%f") and gives the same text.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(value: str) -> datetime:
    """Parse a time written by `format_time`."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Envelope(BaseModel):
    """One stored event. `hash` covers every other attribute, `data` in its sealed form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(description="UUIDv7 of the event; also its Nats-Msg-Id")
    source: str = Field(description="the service that recorded the event, e.g. sexto/intake")
    type: str = Field(description="org.sexto.<context>.<event>.v<N>")
    subject: str = Field(description="the case id")
    time: str = Field(description="when the fact was recorded, RFC 3339 UTC")
    datacontenttype: Literal["application/json"] = DATA_CONTENT_TYPE
    data: dict[str, Any]
    territory: str = Field(description="the police force whose territory the school lies in")
    actor: str = Field(description="pseudonymous id of who caused the event")
    actorrole: str
    correlationid: str
    causationid: str
    traceparent: str | None = None
    protocolversion: str | None = None
    prevhash: str = ""
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The envelope as stored: absent optional attributes are omitted, not null."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_bytes(self) -> bytes:
        """The message body written to the stream."""
        return canonical_body(self.to_dict())

    def sealed(self, prevhash: str) -> Envelope:
        """This envelope linked to its predecessor, with its hash computed."""
        linked = self.model_copy(update={"prevhash": prevhash, "hash": ""})
        return linked.model_copy(update={"hash": compute_hash(linked.to_dict())})

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        """Parse a stored message body."""
        return cls.model_validate_json(body)

    @property
    def time_dt(self) -> datetime:
        """`time` as a datetime."""
        return parse_time(self.time)
