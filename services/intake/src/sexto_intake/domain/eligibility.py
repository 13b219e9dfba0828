"""SEXTO eligibility: an agreement in force on the day, and a certified intervener."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sexto_events.messages import Message

from sexto_intake.domain.errors import NotEligible


@dataclass(frozen=True, slots=True)
class Agreement:
    """An agreement's period of force."""

    agreement_id: str
    in_force_from: date
    in_force_to: date | None

    def in_force_on(self, day: date) -> bool:
        """True if the agreement applied on `day`."""
        return self.in_force_from <= day and (self.in_force_to is None or day <= self.in_force_to)


@dataclass(frozen=True, slots=True)
class Certification:
    """An intervener's SEXTO training."""

    school_id: str
    level: str
    certified_on: date


def check_sexto(
    *,
    territory_id: str,
    agreements: list[Agreement],
    certification: Certification | None,
    school_id: str,
    discovered_on: date,
    today: date,
) -> str:
    """The id of the agreement in force, or NotEligible saying why and what to do."""
    in_force = [a for a in agreements if a.in_force_on(discovered_on)]
    if not in_force:
        raise NotEligible(
            Message("no-agreement-in-force", territory=territory_id, on=discovered_on.isoformat()),
            reason="no-agreement-in-force",
        )
    if (
        certification is None
        or certification.school_id != school_id
        or certification.certified_on > today
    ):
        raise NotEligible(
            Message("intervener-not-certified"),
            reason="intervener-not-certified",
        )
    return in_force[0].agreement_id
