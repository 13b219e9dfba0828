"""Finding a case's territory from its id alone (people name cases by id)."""

from __future__ import annotations

import re

from nats.aio.client import Client
from sexto_events.direct_get import DirectReader
from sexto_events.errors import EventLogError
from sexto_events.model import CaseRef
from sexto_events.stream import StreamSpec

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CaseNotFound(EventLogError):
    """No event of this case is in the log."""


async def locate_case(nc: Client, spec: StreamSpec, case_id: str) -> CaseRef:
    """The case with this id, its territory read from its first event's subject."""
    if not _ID.match(case_id):
        raise CaseNotFound(f"{case_id!r} is not a case id (1-64 letters, digits, '-' or '_')")
    reader = DirectReader(nc, spec.name)
    try:
        found = await reader.read(f"{spec.subject_root}.*.{case_id}.>", up_to_seq=None)
    finally:
        await reader.close()
    if not found:
        raise CaseNotFound(f"no case {case_id} in the log")
    return CaseRef(found[0].subject.split(".")[1], case_id)
