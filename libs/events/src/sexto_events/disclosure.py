"""What a reader is shown of personal data: who opens it, and the one placeholder for a
value withheld from a reader (REST, webhooks, the command line, exports alike).

A value withheld reads `{"withheld": true}`; a value whose key was shredded reads
`{"erased": true}` (catalogue.base.Erased) for everyone: gone, not hidden.
"""

from __future__ import annotations

from sexto_events.principal import Principal, Role

# The roles that open sealed personal data when they may read a case at all (the case
# scope rule is principal.visibility). Analysts get pseudonyms; admins read no case.
OPENS_PERSONAL_DATA = frozenset(
    {
        Role.INTERVENER,
        Role.SAFEGUARDING_LEAD,
        Role.SCHOOL_ADMIN,
        Role.POLICE_DISPATCH,
        Role.POLICE_OFFICER,
        Role.PROSECUTOR,
        Role.LEGAL_REVIEWER,
    }
)


def opens_personal_data(principal: Principal) -> bool:
    """True when the caller's role is shown personal data in clear (deny by default)."""
    return principal.role in OPENS_PERSONAL_DATA


def withheld() -> dict[str, bool]:
    """The placeholder of a value withheld from this reader."""
    return {"withheld": True}
