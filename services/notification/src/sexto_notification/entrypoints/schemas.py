"""Request and response bodies of the notification API: unknown fields refused in requests.

Every field of an answer declares its class of data (sexto_events.disclosure), and each
read answers as the disclosure policy shows it to the caller's role. A type takes
`| Withheld` where a role that may read it is not shown its class: an admin manages
webhooks but sees no case, so every field of a subscription or a delivery may read
`{"withheld": true}`; an analyst may read a case's record with its recipients' refs as
pseudonyms (withheld without an analysis key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sexto_events.catalogue.base import Ref
from sexto_events.catalogue.directory import Language
from sexto_events.catalogue.notification import EMAIL_PATTERN, RecipientKind
from sexto_events.disclosure import DataClass, Withheld, classed

RECORD = DataClass.RECORD
REF = DataClass.REFERENCE


class Strict(BaseModel):
    """Unknown fields refused."""

    model_config = ConfigDict(extra="forbid")


class SubscriptionIn(Strict):
    """A webhook address, which events it receives, and optionally its secret."""

    url: str = Field(min_length=8, max_length=2000, examples=["https://dispatch.example/sexto"])
    types: list[Annotated[str, Field(min_length=3, max_length=120)]] = Field(
        min_length=1,
        max_length=50,
        description="'<context>.<event>' or '<context>.*', e.g. 'escalation.*'",
        examples=[["escalation.*"]],
    )
    territory: Ref | None = None
    school_id: Ref | None = None
    secret: str | None = Field(
        default=None,
        max_length=200,
        description="whsec_<base64 of 24 to 48 bytes>; generated when omitted",
    )


class SubscriptionOut(BaseModel):
    """A subscription (its secret is never shown again): the partner's configuration."""

    id: str | Withheld = classed(RECORD)
    url: str | Withheld = classed(RECORD)
    types: list[str] | Withheld = classed(RECORD)
    territory: str | Withheld | None = classed(DataClass.JURISDICTION)
    school_id: str | Withheld | None = classed(REF, "school")
    created_at: datetime | Withheld = classed(RECORD)
    previous_secret_valid_until: datetime | Withheld | None = classed(RECORD)


class SubscriptionWithSecret(SubscriptionOut):
    """The answer that made or rotated a subscription: the only time the secret is shown."""

    secret: str = classed(RECORD)


class RotateIn(Strict):
    """A new secret (generated when omitted); the old one signs beside it for the overlap."""

    secret: str | None = Field(default=None, max_length=200)
    overlap_seconds: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)


class DeliveryOut(BaseModel):
    """A delivery and where it stands."""

    id: str | Withheld = classed(RECORD)
    channel: str | Withheld = classed(RECORD)
    target: str | Withheld = classed(
        REF, "recipient", description="the subscription id, or the recipient's ref"
    )
    recipient_kind: str | Withheld = classed(RECORD)
    case_id: str | Withheld = classed(REF, "case")
    event_id: str | Withheld = classed(RECORD)
    event_type: str | Withheld = classed(
        DataClass.OUTCOME, description="what happened to the case (withheld from admins)"
    )
    template: str | Withheld = classed(RECORD)
    status: str | Withheld = classed(RECORD)
    attempts: int | Withheld = classed(RECORD)
    next_attempt_at: datetime | Withheld = classed(RECORD)
    last_error: str | Withheld | None = classed(RECORD, description="e.g. 'http 503'")
    created_at: datetime | Withheld = classed(RECORD)
    sent_at: datetime | Withheld | None = classed(RECORD)


class RecipientIn(Strict):
    """Someone to tell by e-mail about this case. The address is sealed on the record."""

    recipient_ref: Ref
    kind: RecipientKind
    student_ref: Ref | None = None
    language: Language | None = None
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)


class Recorded(BaseModel):
    """The fact on the record."""

    id: str = classed(RECORD)
    version: int = classed(RECORD)


class NotificationOut(BaseModel):
    """One delivery attempt as the case's record shows it (classed as the event
    notification.delivery_attempted is)."""

    event_id: str = classed(RECORD)
    at: datetime = classed(RECORD)
    delivery_id: str = classed(RECORD)
    channel: str = classed(RECORD)
    recipient_ref: str | Withheld = classed(
        REF, "recipient", description="the subscription id, or the recipient's ref"
    )
    recipient_kind: str = classed(RECORD)
    template_version: str = classed(RECORD)
    about_event_id: str = classed(RECORD)
    about_type: str = classed(RECORD)
    attempt: int = classed(RECORD)
    outcome: str = classed(RECORD)
    final: bool = classed(RECORD)
    detail: str = classed(RECORD)
