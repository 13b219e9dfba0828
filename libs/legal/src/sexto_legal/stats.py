"""Statistics over the log: cases per month, territory and protocol; the DPCP's decisions;
time from discovery to each milestone (median and 90th percentile).

Definitions: a case counts in the month (UTC, whatever offset the report gave) of its
discovery. A milestone's time is the
recording time of its first event in the case, minus the discovery time the report gives.
Decisions count each student's latest decision; the impulsive and malicious shares are
of the impulsive + malicious decisions only (a no-further-action decision qualifies
neither way, and is reported apart). Percentiles interpolate linearly
between order statistics (the "inclusive" method of Python's statistics.quantiles).
Overdue steps count every breach recorded (escalation.overdue), per step. The UK path's
outcomes count the uk-dsl cases referred to each agency (a case referred to two agencies
counts under both) and, as `not_referred`, those referred to none.

One case's figures (`CaseFigures`) are folded by the same rules for `sexto stats`, the
report and the analytics export's `cases` table, so their numbers agree.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from sexto_events.envelope import parse_time
from sexto_events.stream import StreamSpec

from sexto_legal.scan import scan, stream_state
from sexto_legal.stored_case import kind_of

REPORTED = "intake.case_reported"
MILESTONES = {
    "escalation.requested": "escalation_requested",
    "escalation.kit_collected": "kit_collected",
    "escalation.prosecutor_decided": "decision",
}
DECISION = "escalation.prosecutor_decided"
OVERDUE = "escalation.overdue"
REFERRAL = "escalation.referral_recorded"
QUALIFIED = ("impulsive", "malicious")
UK_PATH = "uk-dsl"
NOT_REFERRED = "not_referred"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class CaseFigures:
    """What the figures read of one case, folded from its envelopes in order."""

    territory: str
    protocol: str | None = None
    discovered: datetime | None = None
    milestones: dict[str, datetime] = field(default_factory=dict)
    agencies: set[str] = field(default_factory=set)  # the UK path's referrals
    overdue: Counter[str] = field(default_factory=Counter)  # breaches per step
    decisions: dict[str, str] = field(default_factory=dict)  # latest per student ref

    def take(self, raw: dict[str, Any]) -> None:
        """Take one envelope (stored, or as analysts see it) into account; types not
        counted are ignored. Raises KeyError, TypeError or ValueError, having changed
        nothing, when the envelope lacks what its type counts for."""
        kind = kind_of(raw)
        if not kind:
            raise KeyError("type")
        data = raw.get("data") or {}
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
        reported: tuple[str, datetime] | None = None
        if kind == REPORTED:
            discovered = datetime.fromisoformat(str(data["discovered_at"]))
            if discovered.tzinfo is None:
                raise ValueError("discovered_at has no offset")
            reported = (str(data["protocol"]), discovered)
        milestone = MILESTONES.get(kind)
        reached = parse_time(str(raw["time"])) if milestone is not None else None
        decision = (str(data["student_ref"]), str(data["decision"])) if kind == DECISION else None
        step = str(data["step"]) if kind == OVERDUE else None
        agency = str(data["agency"]) if kind == REFERRAL else None
        if reported is not None:
            self.protocol, self.discovered = reported
        if milestone is not None and reached is not None and milestone not in self.milestones:
            self.milestones[milestone] = reached
        if decision is not None:
            self.decisions[decision[0]] = decision[1]
        if step is not None:
            self.overdue[step] += 1
        if agency is not None:
            self.agencies.add(agency)

    def hours(self) -> dict[str, float]:
        """Hours from discovery to each milestone reached (none before the report)."""
        if self.discovered is None:
            return {}
        return {
            name: (reached - self.discovered).total_seconds() / 3600
            for name, reached in self.milestones.items()
        }

    def month(self) -> str | None:
        """The month (UTC) the case counts in: its discovery's."""
        return (
            None if self.discovered is None else self.discovered.astimezone(UTC).strftime("%Y-%m")
        )

    def uk_outcomes(self) -> list[str]:
        """The UK path's outcomes of this case (none on another path)."""
        if self.protocol != UK_PATH:
            return []
        return sorted(self.agencies) or [NOT_REFERRED]


@dataclass(frozen=True, slots=True)
class MilestoneFigures:
    """Hours from discovery to a milestone, over the cases that reached it."""

    cases: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True, slots=True)
class Statistics:
    """The figures `sexto stats` prints."""

    cases: int
    per_month: dict[tuple[str, str, str], int]
    decisions: dict[str, int]
    milestones: dict[str, MilestoneFigures]
    overdue: dict[str, int] = field(default_factory=dict)
    uk_outcomes: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0  # events of a counted type that could not be read (left out)

    def share(self, decision: str) -> float | None:
        """The share of `decision` (impulsive or malicious) among the impulsive + malicious
        latest decisions; None when there is none (no_further_action is not in the base)."""
        total = sum(self.decisions.get(d, 0) for d in QUALIFIED)
        if decision not in QUALIFIED or not total:
            return None
        return self.decisions.get(decision, 0) / total

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "cases": self.cases,
            "per_month": [
                {"month": m, "territory": t, "protocol": p, "cases": n}
                for (m, t, p), n in sorted(self.per_month.items())
            ],
            "decisions": dict(sorted(self.decisions.items())),
            "impulsive_share": self.share("impulsive"),
            "malicious_share": self.share("malicious"),
            "shares_of": "impulsive + malicious decisions (no_further_action apart)",
            "no_further_action": self.decisions.get("no_further_action", 0),
            "month_timezone": "UTC",
            "unreadable_events": self.unreadable,
            "milestones": {
                name: {"cases": f.cases, "median_hours": f.median_hours, "p90_hours": f.p90_hours}
                for name, f in self.milestones.items()
            },
            "overdue": dict(sorted(self.overdue.items())),
            "uk_outcomes": dict(sorted(self.uk_outcomes.items())),
        }


class StatsFolder:
    """Folds stored envelopes (any order of cases, each case in order) into statistics."""

    def __init__(self) -> None:
        self._cases: dict[str, CaseFigures] = {}
        self.unreadable = 0

    def add(self, raw: dict[str, Any]) -> None:
        """Take one envelope into account (types other than those counted are ignored);
        raises as CaseFigures.take does, having changed nothing."""
        key = f"{raw['territory']}/{raw['subject']}"
        case = self._cases.get(key)
        if case is None:
            case = CaseFigures(str(raw["territory"]))
            case.take(raw)
            self._cases[key] = case
        else:
            case.take(raw)

    def result(self) -> Statistics:
        """The figures over every reported case seen."""
        return statistics_of(self._cases.values(), self.unreadable)


def statistics_of(cases: Iterable[CaseFigures], unreadable: int = 0) -> Statistics:
    """The figures over these cases (those never reported are left out)."""
    per_month: Counter[tuple[str, str, str]] = Counter()
    hours: dict[str, list[float]] = {name: [] for name in MILESTONES.values()}
    decisions: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    uk: Counter[str] = Counter()
    count = 0
    for case in cases:
        month = case.month()
        if month is None:
            continue
        count += 1
        per_month[(month, case.territory, case.protocol or "")] += 1
        for name, value in case.hours().items():
            hours[name].append(value)
        decisions.update(case.decisions.values())
        overdue.update(case.overdue)
        uk.update(case.uk_outcomes())
    figures = {
        name: MilestoneFigures(
            len(values),
            percentile(values, 50) if values else None,
            percentile(values, 90) if values else None,
        )
        for name, values in hours.items()
    }
    return Statistics(
        count, dict(per_month), dict(decisions), figures, dict(overdue), dict(uk), unreadable
    )


async def compute_stats(
    nc: Client,
    spec: StreamSpec,
    *,
    territories: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Statistics:
    """Statistics over the whole log (or some territories), reading only the events counted."""
    kinds = [REPORTED, *MILESTONES, OVERDUE, REFERRAL]
    filters = [
        f"{spec.subject_root}.{territory}.*.{kind}"
        for territory in (sorted(set(territories)) or ["*"])
        for kind in kinds
    ]
    total = (await stream_state(nc, spec)).messages
    folder = StatsFolder()
    seen = 0
    async for msgs in scan(nc, spec, filters=filters):
        for msg in msgs:
            try:
                raw = json.loads(msg.data)
                if not isinstance(raw, dict):
                    raise TypeError("not an object")
                folder.add(raw)
            except (KeyError, TypeError, ValueError):  # left out, and counted as such
                folder.unreadable += 1
        seen += len(msgs)
        if progress is not None:
            progress(seen, max(total, seen))
    return folder.result()
