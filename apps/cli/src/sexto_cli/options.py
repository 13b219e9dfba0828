"""Values given on the command line, parsed once for every command."""

from __future__ import annotations

from datetime import datetime

import typer


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with its offset (`Z` for UTC)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give the time with its offset (e.g. 2026-11-02T10:00:00Z)")
    return moment
