"""An AsyncAPI 3.0 document generated from the event catalogue, for integrators."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE, Catalogue
from sexto_events.envelope import CONTENT_TYPE, Envelope

REF = "#/components/schemas/{model}"


def _schema(model: type[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    return dict(schema)


def build_asyncapi(
    *, title: str, description: str, contexts: Iterable[str], catalogue: Catalogue = CATALOGUE
) -> dict[str, Any]:
    """Channels, messages and payloads of the current event types of `contexts`."""
    wanted = set(contexts)
    schemas: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    envelope = _schema(Envelope, schemas)
    for cls in catalogue.types():
        if cls.event_context not in wanted or not catalogue.is_current(cls):
            continue
        name = cls.__name__
        schemas[name] = _schema(cls, schemas)
        payload = {
            **envelope,
            "properties": {
                **envelope["properties"],
                "type": {"const": cls.type_name()},
                "data": {"$ref": REF.format(model=name)},
            },
        }
        messages[name] = _message(cls, payload)
        channel = cls.subject_suffix()
        channels[channel] = {
            "address": "cases.{territory}.{case}." + channel,
            "parameters": {
                "territory": {"description": "the police force; permissions are per territory"},
                "case": {"description": "the case id"},
            },
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"receive_{channel.replace('.', '_')}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _message(cls: type[EventData], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": cls.type_name(),
        "title": cls.__name__,
        "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "contentType": CONTENT_TYPE,
        "payload": payload,
    }
