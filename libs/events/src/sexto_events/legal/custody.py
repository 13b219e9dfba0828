"""The chain of custody of the sealed kit, read from the case's events.

Each line names the event it comes from (id and position), so a reader checks it against
the hash-chained events; the log itself is the authority, this is a convenience view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SECURED = ".intake.device_secured."
REQUESTED = ".escalation.requested."
COLLECTED = ".escalation.kit_collected."


def custody_log(envelopes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Custody steps: secured at school, listed for the police, collected (seals checked)."""
    out: list[dict[str, Any]] = []
    for position, env in enumerate(envelopes):
        kind = f".{'.'.join(str(env.get('type', '')).split('.')[2:4])}."
        data = env.get("data") or {}
        base = {
            "position": position,
            "event_id": env.get("id"),
            "time": env.get("time"),
            "actor": env.get("actor"),
            "actor_role": env.get("actorrole"),
        }
        if kind == SECURED:
            seal = data.get("seal_number")
            out.append(base | {"step": "secured_at_school", "holder": "school",
                               "seal_numbers": [seal] if seal else [],
                               "owner_ref": data.get("owner_ref")})  # fmt: skip
        elif kind == REQUESTED:
            out.append(base | {"step": "listed_for_police", "holder": "school",
                               "seal_numbers": list(data.get("seal_numbers", []))})  # fmt: skip
        elif kind == COLLECTED:
            seals = data.get("seals", [])
            out.append(
                base
                | {
                    "step": "collected_by_police",
                    "holder": "police",
                    "officer_ref": data.get("officer_ref"),
                    "seal_numbers": [s.get("seal_number") for s in seals],
                    "broken_seals": [s.get("seal_number") for s in seals if not s.get("intact")],
                    "missing_seals": list(data.get("missing_seals", [])),
                    "unexpected_seals": list(data.get("unexpected_seals", [])),
                    "flagged": bool(data.get("flagged")),
                }
            )
    return out
