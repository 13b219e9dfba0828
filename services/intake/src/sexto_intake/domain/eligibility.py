"""Who may open which path: a school's jurisdiction names its protocols; SEXTO needs an
agreement in force and an intervener certified, both on the day of the discovery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sexto_events.catalogue.directory import Jurisdiction
from sexto_events.catalogue.intake import Protocol
from sexto_events.messages import Message

from sexto_intake.domain.errors import NotEligible, ProtocolNotForJurisdiction

# A protocol belongs to a jurisdiction (DOMAIN.md, hard rule 5): a Quebec school never
# opens a UK-path case, nor an English school a SEXTO one.
PROTOCOLS: Mapping[Jurisdiction, frozenset[Protocol]] = {
    Jurisdiction.QC: frozenset({Protocol.SEXTO_QC}),
    Jurisdiction.ENGLAND: frozenset({Protocol.UK_DSL}),
}


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


def check_protocol(*, jurisdiction: Jurisdiction, protocol: Protocol, school_id: str) -> None:
    """Refuses a protocol the school's jurisdiction does not use, naming the ones it does."""
    allowed = PROTOCOLS[jurisdiction]
    if protocol not in allowed:
        raise ProtocolNotForJurisdiction(
            Message(
                "protocol-not-for-jurisdiction",
                school=school_id,
                protocol=protocol.value,
                jurisdiction=jurisdiction.value,
                allowed=", ".join(sorted(p.value for p in allowed)),
            )
        )


def check_sexto(
    *,
    territory_id: str,
    agreements: list[Agreement],
    certification: Certification | None,
    school_id: str,
    discovered_on: date,
) -> str:
    """The id of the agreement in force, or NotEligible saying what is missing and what the
    school can do instead (call 911; its own board's procedure) — never another path."""
    in_force = [a for a in agreements if a.in_force_on(discovered_on)]
    if not in_force:
        raise NotEligible(
            Message("no-agreement-in-force", territory=territory_id, on=discovered_on.isoformat()),
            reason="no-agreement-in-force",
        )
    if certification is None or certification.school_id != school_id:
        raise NotEligible(Message("intervener-not-certified"), reason="intervener-not-certified")
    # The kit is used by whoever was trained when the school learnt of the incident.
    if certification.certified_on > discovered_on:
        raise NotEligible(
            Message(
                "intervener-certified-after-discovery",
                certified_on=certification.certified_on.isoformat(),
                on=discovered_on.isoformat(),
            ),
            reason="intervener-certified-after-discovery",
        )
    return in_force[0].agreement_id
