"""Pure rules of notification: who hears of which event, and when a retry is due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sexto_events.catalogue.notification import Outcome
from sexto_events.messages import Message
from sexto_events.principal import POLICE_ROLES, Role

# Contexts whose events never leave the system by webhook: the read log is nobody's feed,
# and the notification context's own events would echo deliveries back into deliveries.
NOT_FOR_WEBHOOKS = frozenset({"audit", "notification"})

# The steps school staff (intervener, safeguarding lead) are told of, with their labels.
STAFF_STEPS: dict[str, dict[str, str]] = {
    "evaluation.assessment_made": {"fr": "évaluation complétée", "en": "assessment completed"},
    "escalation.requested": {
        "fr": "signalement au 911 demandé",
        "en": "police escalation requested",
    },
    "escalation.acknowledged": {
        "fr": "prise en charge par la police",
        "en": "acknowledged by police",
    },
    "escalation.kit_collected": {
        "fr": "trousse récupérée par la police",
        "en": "kit collected by police",
    },
    "escalation.prosecutor_consulted": {"fr": "DPCP consulté", "en": "prosecutor consulted"},
    "escalation.prosecutor_decided": {
        "fr": "décision du DPCP",
        "en": "prosecutor's decision recorded",
    },
    # Neutral words: the depicted student is met too, and that meeting is no consequence.
    "escalation.meeting_scheduled": {
        "fr": "rencontre planifiée avec les policiers",
        "en": "meeting with the police scheduled",
    },
    "escalation.meeting_held": {
        "fr": "rencontre avec les policiers tenue",
        "en": "meeting with the police held",
    },
    "escalation.overdue": {"fr": "délai dépassé", "en": "deadline missed"},
    "escalation.urgency_changed": {
        "fr": "urgence réévaluée après une nouvelle évaluation",
        "en": "urgency reassessed after a new assessment",
    },
    "escalation.support_offered": {"fr": "soutien offert", "en": "support offered"},
    "escalation.referral_recorded": {"fr": "signalement enregistré", "en": "referral recorded"},
    "intake.case_closed": {"fr": "dossier fermé", "en": "case closed"},
}


class InvalidFilter(ValueError):
    """An event filter names something that does not exist or may not be subscribed to."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscription receives: types ("context.name" or "context.*")."""

    types: frozenset[str]
    territory: str | None = None
    school_id: str | None = None

    def matches(self, suffix: str, territory: str, school_id: str | None) -> bool:
        """True for an event `<context>.<name>` of this territory and school."""
        context = suffix.split(".", 1)[0]
        if context in NOT_FOR_WEBHOOKS:
            return False
        if suffix not in self.types and f"{context}.*" not in self.types:
            return False
        if self.territory is not None and territory != self.territory:
            return False
        return self.school_id is None or school_id == self.school_id


def normalise_types(wanted: Iterable[str], known: Iterable[str]) -> frozenset[str]:
    """Check type patterns against the catalogue's `<context>.<name>`s; full CloudEvents
    types (org.sexto.<context>.<name>.v<N>) are accepted and reduced to their suffix."""
    known_set = set(known)
    contexts = {k.split(".", 1)[0] for k in known_set}
    out: set[str] = set()
    for raw in wanted:
        pattern = raw.strip()
        if pattern.startswith("org.sexto."):
            parts = pattern.split(".")
            pattern = ".".join(parts[2:4]) if len(parts) == 5 else pattern
        context = pattern.split(".", 1)[0]
        if context in NOT_FOR_WEBHOOKS:
            raise InvalidFilter(Message("filter-not-by-webhook", raw=raw, context=context))
        if pattern.endswith(".*"):
            if context not in contexts:
                raise InvalidFilter(Message("filter-no-context", raw=raw, known=sorted(contexts)))
        elif pattern not in known_set:
            raise InvalidFilter(Message("filter-no-type", raw=raw))
        out.add(pattern)
    if not out:
        raise InvalidFilter(Message("filter-empty"))
    return frozenset(out)


def retry_delay(attempt: int, base_s: float, cap_s: float, jitter: float, rand: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based); `rand` is uniform in [0, 1).

    Exponential (base, 2·base, 4·base ...) spread by ±jitter so that many deliveries failing
    together (a receiver down) do not come back all at once, and never beyond `cap_s`.
    """
    exponential = min(cap_s, base_s * float(2 ** min(attempt - 1, 62)))
    return min(cap_s, max(0.0, exponential * (1 + jitter * (2 * rand - 1))))


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How an attempt ended, as the record will show it."""

    sent: bool
    detail: str
    permanent: bool = False  # no point in retrying (the address was erased)


# Police and prosecutors' subscriptions are told of escalated cases only, as they see them
# (sexto_events.principal.visibility); school and admin subscriptions of any case their
# filter matches.
ESCALATED_ONLY = frozenset(r.value for r in (*POLICE_ROLES, Role.PROSECUTOR))


def subscriber_may_receive(owner_role: str, escalated: bool) -> bool:
    """True when a subscription owned by this role may receive an event of this case. An
    admin operates subscriptions and deliveries but reads no case: its own subscriptions
    hear of none (even withheld field by field, an event would tell when a case moved)."""
    if owner_role == Role.ADMIN.value:
        return False
    return escalated or owner_role not in ESCALATED_ONLY


def email_language(recipient: str | None, school: str | None, protocol: str) -> str:
    """The language of an e-mail: the recipient's choice, else the school's, else the
    protocol's jurisdiction (English for the UK path, French for SEXTO)."""
    return recipient or school or ("en" if protocol == "uk-dsl" else "fr")


class DeliveryStatus(StrEnum):
    """Where a delivery stands in the outbox."""

    PENDING = "pending"  # to be attempted (again) when due
    SENT = "sent"
    FAILED = "failed"  # at the cap, or for good: held until retried or cancelled
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Move:
    """A change a delivery's owner asks for: to which status, from which ones."""

    to: DeliveryStatus
    allowed_from: tuple[DeliveryStatus, ...]


# A retry sends a failed delivery once more (same id); a cancel gives up a pending or
# failed one, so that what it held behind it goes on.
RETRY = Move(DeliveryStatus.PENDING, (DeliveryStatus.FAILED,))
CANCEL = Move(DeliveryStatus.CANCELLED, (DeliveryStatus.PENDING, DeliveryStatus.FAILED))


def is_final(result: AttemptResult, attempt: int, max_attempts: int) -> bool:
    """True when no further automatic attempt follows attempt number `attempt`."""
    return result.sent or result.permanent or attempt >= max_attempts


def status_after(outcome: Outcome, final: bool) -> DeliveryStatus:
    """The delivery's status once an attempt with this outcome is on the record."""
    if outcome is Outcome.SENT:
        return DeliveryStatus.SENT
    return DeliveryStatus.FAILED if final else DeliveryStatus.PENDING


def status_unrecorded(case_unreadable: bool) -> DeliveryStatus:
    """The status of a delivery whose attempt could not be put on the record: tried again
    later, unless the case's record cannot be read at all (a broken chain), when it fails
    outright, so it shows among the failed ones and can be cancelled."""
    return DeliveryStatus.FAILED if case_unreadable else DeliveryStatus.PENDING
