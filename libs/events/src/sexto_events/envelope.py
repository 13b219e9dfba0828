"""The stored form of every event: a CloudEvents 1.0 structured-mode JSON envelope."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sexto_events.chain import canonical_body, compute_hash
from sexto_events.disclosure import DataClass, Viewer, classed, disclose, withheld

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
    """One stored event. `hash` covers every other attribute, `data` in its sealed form.

    Each attribute declares its class of data (sexto_events.disclosure); `data` is disclosed
    by its event type's model (`disclose_event`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = classed(DataClass.RECORD, default=SPEC_VERSION)
    id: str = classed(DataClass.RECORD, description="UUIDv7 of the event; also its Nats-Msg-Id")
    source: str = classed(
        DataClass.RECORD, description="the service that recorded the event, e.g. sexto/intake"
    )
    type: str = classed(DataClass.RECORD, description="org.sexto.<context>.<event>.v<N>")
    subject: str = classed(DataClass.REFERENCE, "case", description="the case id")
    time: str = classed(DataClass.RECORD, description="when the fact was recorded, RFC 3339 UTC")
    datacontenttype: Literal["application/json"] = classed(
        DataClass.RECORD, default=DATA_CONTENT_TYPE
    )
    data: dict[str, Any]
    territory: str = classed(
        DataClass.JURISDICTION, description="the police force whose territory the school lies in"
    )
    actor: str = classed(
        DataClass.STAFF, "person", description="pseudonymous id of who caused the event"
    )
    actorrole: str = classed(DataClass.RECORD)
    correlationid: str = classed(DataClass.RECORD)
    causationid: str = classed(DataClass.RECORD)
    traceparent: str | None = classed(DataClass.REFERENCE, "trace", default=None)
    protocolversion: str | None = classed(DataClass.JURISDICTION, default=None)
    prevhash: str = classed(DataClass.REFERENCE, "hash", default="")
    hash: str = classed(DataClass.REFERENCE, "hash", default="")

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


def disclose_event(
    viewer: Viewer, raw: Mapping[str, Any], data_model: type[BaseModel] | None
) -> dict[str, Any]:
    """A CloudEvent (stored or delivered form) as `viewer` may see it: its attributes by
    their classes, its data by the event type's model (withheld whole without one). Personal
    data still sealed in `raw` is withheld whatever the table says."""
    case_id = str(raw.get("subject", ""))
    out = disclose(viewer, Envelope, {k: v for k, v in raw.items() if k != "data"}, case_id)
    data = raw.get("data")
    if isinstance(data, Mapping) and data_model is not None:
        out["data"] = disclose(viewer, data_model, data, case_id)
    elif "data" in raw:
        out["data"] = withheld()
    return out
