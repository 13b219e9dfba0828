"""Who may use which legal and analysis tool, and who sees personal data in them."""

from __future__ import annotations

from enum import StrEnum

from sexto_events.errors import EventLogError
from sexto_events.principal import Principal, Role


class Tool(StrEnum):
    """The tools of the legal and analysis work."""

    HISTORY = "history"
    VERIFY = "verify"
    EXPORT = "export"
    REPLAY = "replay"
    STATS = "stats"
    ANALYTICS = "export-analytics"
    REBUILD = "rebuild"
    SHRED = "shred"
    LEGAL_HOLD = "legal-hold"
    RETENTION = "retention"
    PROOF = "proof"


# A court bundle holds personal data in clear: legal reviewers only. Holds are placed by
# legal reviewers (a court, a complaint, an inquiry); erasure and read-model rebuilds are
# the operator's (admin) work, and an erasure is refused while a hold stands.
ALLOWED: dict[Tool, frozenset[Role]] = {
    Tool.HISTORY: frozenset({Role.LEGAL_REVIEWER, Role.ANALYST}),
    Tool.VERIFY: frozenset({Role.LEGAL_REVIEWER, Role.ANALYST, Role.ADMIN}),
    Tool.EXPORT: frozenset({Role.LEGAL_REVIEWER}),
    Tool.REPLAY: frozenset({Role.LEGAL_REVIEWER, Role.ANALYST}),
    # Admins read no case: not even counts, which run twice tell when a case moved.
    Tool.STATS: frozenset({Role.LEGAL_REVIEWER, Role.ANALYST}),
    # Pseudonymised tables keyed by the analysis key: the analyst's work, and their row of
    # the disclosure policy only.
    Tool.ANALYTICS: frozenset({Role.ANALYST}),
    Tool.REBUILD: frozenset({Role.ADMIN}),
    Tool.SHRED: frozenset({Role.ADMIN}),
    Tool.LEGAL_HOLD: frozenset({Role.LEGAL_REVIEWER}),
    Tool.RETENTION: frozenset({Role.ADMIN}),
    # Checkpoints and proofs name no case; they are the legal reviewers' to hand to a court.
    Tool.PROOF: frozenset({Role.LEGAL_REVIEWER}),
}


class NotAllowed(EventLogError):
    """The caller's role may not use this tool."""


def require(principal: Principal, tool: Tool) -> None:
    """Raise NotAllowed unless the principal's role may use `tool`."""
    allowed = ALLOWED[tool]
    if principal.role not in allowed:
        roles = ", ".join(sorted(r.value for r in allowed))
        raise NotAllowed(
            f"`{tool.value}` is for the roles {roles}; your token's role is {principal.role.value}"
        )
