"""Events recording who read what: every read of a case is itself on the record."""

from __future__ import annotations

from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE
from sexto_events.disclosure import DataClass, classed


@CATALOGUE.declare("audit", "case_read", 1)
class CaseReadV1(EventData):
    """First shape of a read: kept only to read events written in it."""

    view: str = classed(DataClass.RECORD, pattern=r"^[a-z_]{1,64}$")
    service: str = classed(DataClass.RECORD, pattern=r"^[a-z_]{1,32}$")


@CATALOGUE.declare("audit", "case_read", 2)
class CaseRead(EventData):
    """Someone read a case under a version of the disclosure policy; the reader and role are
    the envelope's actor and actorrole."""

    view: str = classed(
        DataClass.RECORD, pattern=r"^[a-z_]{1,64}$", description="which view: state, history, ..."
    )
    service: str = classed(DataClass.RECORD, pattern=r"^[a-z_]{1,32}$")
    policy_version: str = classed(
        DataClass.RECORD,
        pattern=r"^[0-9]{1,9}$",
        description="the version of the disclosure policy the reader was shown the case under",
    )


@CATALOGUE.upcaster(CaseReadV1, CaseRead)
def _case_read_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # Reads before the policy was a table were shown under its version 1: personal data
    # opened to every role but analysts.
    data["policy_version"] = "1"
    return data
