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


SCHOOL_ROLES = frozenset({Role.INTERVENER, Role.SAFEGUARDING_LEAD, Role.SCHOOL_ADMIN})
POLICE_ROLES = frozenset({Role.POLICE_DISPATCH, Role.POLICE_OFFICER})


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller. `subject` is a pseudonymous id, never a name."""

    subject: str
    role: Role
    school_id: str | None = None
    territory: str | None = None

    @property
    def sees_personal_data(self) -> bool:
        """Analysts work on pseudonymised data only."""
        return self.role is not Role.ANALYST


@dataclass(frozen=True, slots=True)
class CaseScope:
    """What the scope rules need to know about a case."""

    school_id: str
    territory: str
    escalated: bool


def can_see_case(principal: Principal, case: CaseScope) -> bool:
    """Each party sees only what its role needs; anything else reads as 'no such case'."""
    role = principal.role
    if role in SCHOOL_ROLES:
        return principal.school_id == case.school_id
    if role in POLICE_ROLES:
        return case.escalated and principal.territory == case.territory
    if role is Role.PROSECUTOR:
        return case.escalated and principal.territory in (None, case.territory)
    # Legal reviewers see whole cases, analysts pseudonymised ones; admins manage the
    # directory, not cases.
    return role in (Role.LEGAL_REVIEWER, Role.ANALYST)
