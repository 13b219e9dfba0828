"""A case's timeline for a legal review: what was recorded, by whom, when, chain verified."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sexto_events.chain import ChainReport, verify_chain
from sexto_events.envelope import parse_time
from sexto_events.legal.pseudonyms import Pseudonymiser
from sexto_events.model import CaseRef
from sexto_events.store import EventStore

SUMMARY_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of the timeline, as the reader may see it."""

    seq: int
    id: str
    time: str
    type: str
    actor: str
    actor_role: str
    protocol_version: str | None
    data: dict[str, Any]

    @property
    def summary(self) -> str:
        """A one-line account of the event's data."""
        return summarise(self.data)


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """The timeline as of a time, the whole chain's verification, and what was shown."""

    case: CaseRef
    as_of: datetime | None
    chain: ChainReport
    entries: list[Entry]
    personal_data_shown: bool
    head_hash: str

    @property
    def version(self) -> int:
        """The stream sequence of the last event shown (0 for none)."""
        return self.entries[-1].seq if self.entries else 0


def summarise(data: dict[str, Any]) -> str:
    """`key=value` for scalars, counts for lists, nested records briefly; cut to one line."""
    parts = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, list):
            parts.append(f"{key}: {len(value)}")
        elif isinstance(value, dict):
            inner = ", ".join(
                f"{k}={v}" for k, v in value.items() if not isinstance(v, list | dict)
            )
            parts.append(f"{key}({inner})")
        else:
            parts.append(f"{key}={value}")
    text = "; ".join(parts)
    return text if len(text) <= SUMMARY_WIDTH else text[: SUMMARY_WIDTH - 1] + "…"


async def case_history(
    store: EventStore,
    case: CaseRef,
    *,
    as_of: datetime | None,
    reveal: bool,
    pseudonyms: Pseudonymiser,
) -> CaseHistory:
    """The timeline up to `as_of` (recording time); personal data opened only if `reveal`.

    The chain is verified over the whole case, so a reader of an earlier view still learns
    whether anything recorded since was altered.
    """
    stored = await store.read_raw(case)
    raws = [json.loads(m.body) for m in stored]
    chain = verify_chain(raws, [m.body for m in stored])
    shown = [
        (m.seq, raw)
        for m, raw in zip(stored, raws, strict=True)
        if as_of is None or parse_time(str(raw["time"])) <= as_of
    ]
    entries: list[Entry] = []
    if reveal:
        for event in await store.decoder.decode(shown):
            env = event.envelope
            entries.append(
                Entry(
                    event.seq,
                    env.id,
                    env.time,
                    env.type,
                    env.actor,
                    env.actorrole,
                    env.protocolversion,
                    event.data.model_dump(mode="json"),
                )
            )
    else:
        for seq, raw in shown:
            pseudo = pseudonyms.envelope(raw)
            entries.append(
                Entry(
                    seq,
                    pseudo["id"],
                    pseudo["time"],
                    pseudo["type"],
                    pseudo["actor"],
                    pseudo["actorrole"],
                    pseudo.get("protocolversion"),
                    pseudo["data"],
                )
            )
    head = str(raws[-1].get("hash", "")) if raws else ""
    return CaseHistory(case, as_of, chain, entries, reveal, head)
