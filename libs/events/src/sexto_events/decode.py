"""From stored message bodies to typed events: parse, upcast, open personal data, validate."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from sexto_events.catalogue.registry import Catalogue, schema_problems
from sexto_events.envelope import Envelope
from sexto_events.errors import EventLogError, EventSchemaError
from sexto_events.model import RecordedEvent
from sexto_events.personal import PersonalDataCodec, subjects_of


def parse_body(body: bytes) -> dict[str, Any]:
    """The raw envelope dict of a stored message (what the hash is computed over)."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventLogError(f"stored message is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise EventLogError("stored message is not a JSON object")
    return raw


class EventDecoder:
    """Decodes raw envelopes with a catalogue and, for personal data, a codec."""

    def __init__(self, catalogue: Catalogue, codec: PersonalDataCodec | None) -> None:
        self.catalogue = catalogue
        self.codec = codec

    async def decode(self, items: list[tuple[int, dict[str, Any]]]) -> list[RecordedEvent]:
        """Decode (stream sequence, raw envelope) pairs, opening personal data in one lookup."""
        staged = []
        for seq, raw in items:
            try:
                envelope = Envelope.model_validate(raw)
            except ValidationError as exc:
                raise EventSchemaError("envelope", schema_problems(exc)) from None
            type_name, data = self.catalogue.upcast(envelope.type, envelope.data)
            cls = self.catalogue.resolve(type_name)
            staged.append((seq, envelope, type_name, cls, data))
        to_open = [
            (cls, data, env.subject, env.id)
            for _, env, _, cls, data in staged
            if subjects_of(cls, data, env.subject)
        ]
        if to_open and self.codec is None:
            raise EventLogError("events carry personal data but no key vault was configured")
        opened = iter(await self.codec.open_many(to_open) if self.codec and to_open else [])
        out = []
        for seq, env, type_name, cls, data in staged:
            plain = next(opened) if subjects_of(cls, data, env.subject) else data
            out.append(
                RecordedEvent(
                    seq=seq,
                    envelope=env,
                    data=self.catalogue.validate(type_name, plain),
                    stored_type=env.type,
                )
            )
        return out
