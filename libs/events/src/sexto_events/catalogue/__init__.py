"""The event catalogue: import this package to have every event type declared."""

from sexto_events.catalogue import (
    audit,
    directory,
    escalation,
    evaluation,
    intake,
    legal,
    notification,
)
from sexto_events.catalogue.base import (
    ERASED,
    Erased,
    EventData,
    PersonalName,
    PersonalText,
    Record,
    personal,
)
from sexto_events.catalogue.registry import CATALOGUE, Catalogue

__all__ = [
    "CATALOGUE",
    "ERASED",
    "Catalogue",
    "Erased",
    "EventData",
    "PersonalName",
    "PersonalText",
    "Record",
    "audit",
    "directory",
    "escalation",
    "evaluation",
    "intake",
    "legal",
    "notification",
    "personal",
]
