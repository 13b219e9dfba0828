"""Events of the notification context: who is to be told, and every attempt to tell them.

A delivery's outcome is part of the case's legal history: the record shows who was told
what (which template, which version), by which channel, when, and whether it arrived.
Addresses are personal data, sealed; the outcome events carry references only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from sexto_events.catalogue.base import Erased, EventData, Ref, StudentRef, personal
from sexto_events.catalogue.directory import Language
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, classed

EMAIL_PATTERN = r"^[^@\s<>]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"

PersonalEmail = (
    Annotated[str, StringConstraints(min_length=3, max_length=254, pattern=EMAIL_PATTERN)] | Erased
)
"""An e-mail address: personal data, sealed in the log."""


class RecipientKind(StrEnum):
    """Who a recipient is to the case."""

    PARENT = "parent"
    INTERVENER = "intervener"
    SAFEGUARDING_LEAD = "safeguarding_lead"


class Channel(StrEnum):
    """How a delivery travels."""

    WEBHOOK = "webhook"
    EMAIL = "email"


class Outcome(StrEnum):
    """What one attempt came to."""

    SENT = "sent"
    FAILED = "failed"


@CATALOGUE.declare("notification", "recipient_registered", 1)
class RecipientRegistered(EventData):
    """Someone to tell by e-mail: a student's parent, or the school staff on the case."""

    recipient_ref: Ref = classed(DataClass.REFERENCE, "recipient")
    kind: RecipientKind = classed(DataClass.RECORD)
    student_ref: StudentRef | None = Field(default=None, description="a parent: whose parent")
    language: Language | None = classed(
        DataClass.RECORD, default=None, description="else the school's language"
    )
    email: PersonalEmail = personal("recipient", "recipient_ref", DataClass.CONTACT)


@CATALOGUE.declare("notification", "delivery_attempted", 1)
class DeliveryAttempted(EventData):
    """One attempt to deliver a notification, and its outcome (no content, no address)."""

    delivery_id: str = classed(DataClass.RECORD, min_length=1, max_length=64)
    channel: Channel = classed(DataClass.RECORD)
    recipient_ref: Ref = classed(
        DataClass.REFERENCE, "recipient", description="the subscription id, or the recipient's ref"
    )
    recipient_kind: str = classed(
        DataClass.RECORD, pattern=r"^(subscription|parent|intervener|safeguarding_lead)$"
    )
    template_version: str = classed(DataClass.RECORD, min_length=1, max_length=120)
    about_event_id: str = classed(DataClass.RECORD, min_length=1, max_length=64)
    about_type: str = classed(DataClass.RECORD, min_length=1, max_length=120)
    attempt: int = classed(DataClass.RECORD, ge=1)
    outcome: Outcome = classed(DataClass.RECORD)
    final: bool = classed(
        DataClass.RECORD, description="no further automatic attempt: sent, or failed at the cap"
    )
    detail: str = classed(
        DataClass.RECORD, max_length=200, description="e.g. 'http 503', 'timeout', 'smtp 250'"
    )
