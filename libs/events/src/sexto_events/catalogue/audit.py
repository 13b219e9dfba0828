"""Events recording who read what: every read of a case is itself on the record."""

from __future__ import annotations

from pydantic import Field

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE


@CATALOGUE.declare("audit", "case_read", 1)
class CaseRead(EventData):
    """Someone read a case; the reader and role are the envelope's actor and actorrole."""

    view: str = Field(pattern=r"^[a-z_]{1,64}$", description="which view: state, history, ...")
    service: str = Field(pattern=r"^[a-z_]{1,32}$")
