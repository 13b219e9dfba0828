"""Who is calling: a role and a tenant scope (school, territory), from a verified token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The roles of ARCHITECTURE.md."""

    INTERVENER = "intervener"
    SAFEGUARDING_LEAD = "safeguarding_lead"
    SCHOOL_ADMIN = "school_admin"
    POLICE_DISPATCH = "police_dispatch"
    POLICE_OFFICER = "police_officer"
    PROSECUTOR = "prosecutor"
    ANALYST = "analyst"
    LEGAL_REVIEWER = "legal_reviewer"
    ADMIN = "admin"


DPCP_PROTOCOL = "sexto-qc"  # the one protocol whose cases a prosecutor (the DPCP) decides
SCHOOL_ROLES = frozenset({Role.INTERVENER, Role.SAFEGUARDING_LEAD, Role.SCHOOL_ADMIN})
POLICE_ROLES = frozenset({Role.POLICE_DISPATCH, Role.POLICE_OFFICER})


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller. `actor` is its pseudonymous id (the token's `sub`), never a name:
    the id recorded as the `actor` of the events it causes."""

    actor: str
    role: Role
    school_id: str | None = None
    territory: str | None = None


@dataclass(frozen=True, slots=True)
class CaseScope:
    """What the scope rules need to know about a case."""

    school_id: str
    territory: str
    escalated: bool
    protocol: str | None = None  # None: not known where the scope is read


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which cases a caller may see: the one scope rule, for a single case (`allows`) and
    for a list (`sql`). A field left None does not narrow."""

    school_id: str | None = None
    territory: str | None = None
    escalated_only: bool = False
    protocol: str | None = None

    def allows(self, case: CaseScope) -> bool:
        """True when this case is in the caller's scope (a case whose protocol is not known
        is outside a scope narrowed to one protocol)."""
        return (
            self.school_id in (None, case.school_id)
            and self.territory in (None, case.territory)
            and (case.escalated or not self.escalated_only)
            and self.protocol in (None, case.protocol)
        )

    def sql(
        self, *, first: int = 1, escalated: str | None = "escalated", protocol: str = "protocol"
    ) -> tuple[list[str], list[str]]:
        """WHERE clauses over the columns school_id, territory, `escalated` (None: the
        table holds escalated cases only) and `protocol` (a column or an expression), with
        their parameters from `$first` on."""
        clauses: list[str] = []
        args: list[str] = []
        for column, value in (
            ("school_id", self.school_id),
            ("territory", self.territory),
            (protocol, self.protocol),
        ):
            if value is not None:
                args.append(value)
                clauses.append(f"{column} = ${first + len(args) - 1}")
        if self.escalated_only and escalated is not None:
            clauses.append(escalated)
        return clauses, args


def visibility(principal: Principal) -> Visibility | None:
    """Each party sees only what its role needs (None: no case at all, and anything outside
    the scope reads as 'no such case'). A scope claim missing from a school or police token
    narrows to nothing, never widens."""
    role = principal.role
    if role in SCHOOL_ROLES:
        return None if principal.school_id is None else Visibility(school_id=principal.school_id)
    if role in POLICE_ROLES or role is Role.PROSECUTOR:
        if principal.territory is None:
            return None
        # The DPCP is Quebec's prosecutor: a UK-path case is never the DPCP's, whatever
        # territory its token names.
        protocol = DPCP_PROTOCOL if role is Role.PROSECUTOR else None
        return Visibility(territory=principal.territory, escalated_only=True, protocol=protocol)
    # Legal reviewers see whole cases, analysts pseudonymised ones; admins manage the
    # directory, not cases.
    return Visibility() if role in (Role.LEGAL_REVIEWER, Role.ANALYST) else None


def can_see_case(principal: Principal, case: CaseScope) -> bool:
    """True when the case is in the caller's scope (`visibility`)."""
    seen = visibility(principal)
    return seen is not None and seen.allows(case)
