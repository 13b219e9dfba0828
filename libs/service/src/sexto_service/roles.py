"""Who may call an operation: one rule per route, checked on each request and shown in the
operation's OpenAPI (`x-roles` and its description) from the same object.

The rule says which roles may call at all (else 403); which cases a caller sees within its
scope (school, territory) is the scope rule of sexto_events.principal, applied by the route.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sexto_events.messages import Message
from sexto_events.principal import Principal, Role
from sexto_events.refusals import CaseNotFound, Forbidden

from sexto_service.auth.dependencies import CurrentPrincipal

# What each role's token is scoped to, as the README lists it.
SCOPES: dict[Role, str] = {
    Role.INTERVENER: "school: its own school's cases",
    Role.SAFEGUARDING_LEAD: "school: its own school's cases",
    Role.SCHOOL_ADMIN: "school: its own school's cases",
    Role.POLICE_DISPATCH: "territory: the escalated cases of its police force's territory",
    Role.POLICE_OFFICER: "territory: the escalated cases of its police force's territory",
    Role.PROSECUTOR: "territory: the escalated SEXTO cases of its territory (never a UK-path case)",
    Role.ANALYST: "every case, pseudonymised",
    Role.LEGAL_REVIEWER: "every case, in full",
    Role.ADMIN: "the directory (territories, schools, agreements, interveners), webhooks; no case",
}


class Allowed:
    """A route dependency: the caller if its role is one of `roles`, else a 403 problem.

    `as_missing`: a read of one case answers another role like a missing case (404), so
    that no role learns whether a case exists outside its scope.
    """

    def __init__(
        self, *groups: Iterable[Role], refusal: str = "role-not-allowed", as_missing: bool = False
    ) -> None:
        self.roles = frozenset(role for group in groups for role in group)
        self.refusal = refusal
        self.as_missing = as_missing

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if principal.role not in self.roles and self.as_missing:
            raise CaseNotFound(Message("case-not-found"))
        if principal.role not in self.roles:
            raise Forbidden(
                Message(
                    self.refusal,
                    role=principal.role.value,
                    roles=", ".join(sorted(r.value for r in self.roles)),
                )
            )
        return principal


ANY_ROLE = Allowed(Role)


def _rules(dependant: Dependant) -> Iterator[Allowed]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Allowed):
            yield dependency.call
        yield from _rules(dependency)


def roles_of(route: APIRoute) -> list[str] | None:
    """The roles that may call a route (None: it declares no rule)."""
    rules = list(_rules(route.dependant))
    if not rules:
        return None
    allowed = frozenset.intersection(*(rule.roles for rule in rules))
    return [role.value for role in Role if role in allowed]


def document_roles(operation: dict[str, Any], roles: list[str]) -> None:
    """Put the roles (and their scopes) in an operation's OpenAPI."""
    operation["x-roles"] = roles
    lines = [f"- `{role}` ({SCOPES[Role(role)]})" for role in roles]
    note = "**Roles that may call this operation:**\n\n" + "\n".join(lines)
    description = operation.get("description", "")
    operation["description"] = f"{description}\n\n{note}" if description else note


# Whoever may read cases at all (each within its scope); admins manage the directory only.
CASE_LISTERS = Allowed(frozenset(Role) - {Role.ADMIN}, refusal="no-case-access")
CASE_READERS = Allowed(CASE_LISTERS.roles, as_missing=True)
