"""What an e-mail may say of its case: each kind of message's values, declared with their
classes of data (sexto_events.disclosure), and the one function that fills a template.

School staff (intervener, safeguarding lead) are roles of the policy: a step message says
what their role's row shows, through `disclose` like any other read. Parents are no role of
the table: their letter carries the fields of `ParentLetter` and nothing else (where to
turn and the protocol followed), whatever the case holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from sexto_events.catalogue.notification import RecipientKind
from sexto_events.disclosure import DataClass, Viewer, classed, disclose
from sexto_events.principal import Role


class _Values(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ParentLetter(_Values):
    """A parent's information letter: the reference to quote, the school, the protocol."""

    case_id: str = classed(DataClass.REFERENCE, "case", description="to quote to the school")
    school: str = classed(DataClass.JURISDICTION, description="the school's name")
    protocol_version: str = classed(DataClass.JURISDICTION)


class StaffStep(_Values):
    """A step message to school staff: which case, which milestone, when it was recorded."""

    case_id: str = classed(DataClass.REFERENCE, "case")
    school: str = classed(DataClass.JURISDICTION, description="the school's name")
    protocol_version: str = classed(DataClass.JURISDICTION)
    step: str = classed(DataClass.OUTCOME, description="the milestone, in words of the service")
    at: str = classed(DataClass.RECORD, description="when the step was recorded")


def mail_values(recipient_kind: str, facts: Mapping[str, Any], case_id: str) -> dict[str, str]:
    """The values a template of this recipient is filled with: a parent's letter only the
    fields of `ParentLetter`; a step message to staff as their role's row shows it (a value
    withheld reads `{"withheld": true}`, as everywhere)."""
    if recipient_kind == RecipientKind.PARENT.value:
        return dict(ParentLetter.model_validate(facts).model_dump())
    plain = StaffStep.model_validate(facts).model_dump(mode="json")
    shown = disclose(Viewer(Role(recipient_kind)), StaffStep, plain, case_id)
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in shown.items()}
