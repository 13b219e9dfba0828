"""The grid's rules, read from the protocol version file: answers in, indication out.

Pure and explainable: every result lists the rules that fired and the answers they read,
with their French and English wording, so a reviewer sees why. The grid does not decide
guilt; it gives the prosecutor and the police a preliminary indication and an urgency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from sexto_protocols import ProtocolVersion
from sexto_protocols.tracks import Track


class Indication(StrEnum):
    """The preliminary indication for one student."""

    MALICIOUS = "malicious"
    IMPULSIVE = "impulsive"
    UNDETERMINED = "undetermined"
    # A victim or a witness: never an offender indication (DOMAIN.md, "Each student's track").
    NOT_APPLICABLE = "not_applicable"


class Urgency(IntEnum):
    """Ordered: a higher value is more urgent."""

    ROUTINE = 0
    HIGH = 1
    URGENT = 2


@dataclass(frozen=True, slots=True)
class FiredRule:
    """A rule that applied, and the answers it read."""

    rule_id: str
    field: str
    read: tuple[str, ...]
    fr: str
    en: str


@dataclass(frozen=True, slots=True)
class StudentEvaluation:
    """One student's result under one protocol version."""

    indication: Indication
    urgency: Urgency
    escalate: bool
    fired: tuple[FiredRule, ...]


def answer_problems(protocol: ProtocolVersion, answers: Mapping[str, Any]) -> list[str]:
    """Every way `answers` breaks the protocol version's grid (empty: valid)."""
    fields = {f["id"]: f for f in protocol.raw.get("grid", {}).get("fields", [])}
    problems = [
        f"{name}: not a field of this protocol version" for name in answers if name not in fields
    ]
    for name, value in answers.items():
        field = fields.get(name)
        if field is None:
            continue
        kind, allowed = field["kind"], field.get("values", [])
        if kind == "choice" and value not in allowed:
            problems.append(f"{name}: must be one of {allowed}")
        elif kind == "multi" and (
            not isinstance(value, list) or any(v not in allowed for v in value)
        ):
            problems.append(f"{name}: must be a list of values from {allowed}")
        elif kind == "text" and not (isinstance(value, str) and 0 < len(value) <= 4000):
            problems.append(f"{name}: must be text of 1 to 4000 characters, in words")
    return problems


def _values(answer: Any) -> set[str]:
    if isinstance(answer, list):
        return {str(v) for v in answer}
    return {str(answer)} if answer is not None else set()


def applies(rule: Mapping[str, Any], track: Track) -> bool:
    """Whether a rule reads the grid of a student on this track (all tracks unless it says)."""
    return track.value in rule.get("tracks", [t.value for t in Track])


def evaluate(
    protocol: ProtocolVersion, answers: Mapping[str, Any], track: Track = Track.OFFENDER
) -> StudentEvaluation:
    """Apply every rule of the version that reads this track to one student's answers.

    Only an offender gets an indication; a victim's or a witness's answers still raise the
    urgency and call for escalation (a coerced or vulnerable depicted student is the most
    urgent case of all), through the rules that apply to their track.
    """
    fired = []
    indications: set[Indication] = set()
    urgency = Urgency.ROUTINE
    escalate = False
    for rule in protocol.raw.get("rules", []):
        if not applies(rule, track):
            continue
        when = rule["when"]
        read = _values(answers.get(when["field"])) & set(when["any_of"])
        if not read:
            continue
        fired.append(
            FiredRule(rule["id"], when["field"], tuple(sorted(read)), rule["fr"], rule["en"])
        )
        if "indication" in rule:
            indications.add(Indication(rule["indication"]))
        if "urgency" in rule:
            urgency = max(urgency, Urgency[rule["urgency"].upper()])
        escalate = escalate or bool(rule.get("escalate"))
    # Malicious indicators outweigh impulsive ones: a romantic exchange that turned into
    # revenge is malicious.
    if track is not Track.OFFENDER:
        indication = Indication.NOT_APPLICABLE
    elif Indication.MALICIOUS in indications:
        indication = Indication.MALICIOUS
    elif Indication.IMPULSIVE in indications:
        indication = Indication.IMPULSIVE
    else:
        indication = Indication.UNDETERMINED
    return StudentEvaluation(indication, urgency, escalate, tuple(fired))


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The case-level recommendation of a protocol version."""

    code: str
    urgency: Urgency
    fr: str
    en: str


def recommend(protocol: ProtocolVersion, students: Sequence[StudentEvaluation]) -> Recommendation:
    """SEXTO: always a police referral, urgent on malicious indicators or recidivism.
    UK: escalate if any factor is present for any student, else manage in school."""
    spec = protocol.raw["recommendation"]
    urgency = max((s.urgency for s in students), default=Urgency.ROUTINE)
    if any(s.escalate for s in students) and "escalated" in spec:
        return Recommendation(spec["escalated"], urgency, spec["fr"], spec["en"])
    return Recommendation(spec["default"], urgency, spec["fr"], spec["en"])
