"""An AsyncAPI 3.0 document generated from the event catalogue, for integrators."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sexto_events.catalogue.base import EventData
from sexto_events.catalogue.registry import CATALOGUE, Catalogue
from sexto_events.disclosure import CLASS_KEY, POLICY, POLICY_VERSION, DataClass
from sexto_events.envelope import CONTENT_TYPE, Envelope
from sexto_events.principal import Role

REF = "#/components/schemas/{model}"
# The roles that subscribe to escalation events (webhooks, NATS): each field says what each
# is shown of it, from the one disclosure table.
SUBSCRIBERS = (Role.POLICE_DISPATCH, Role.POLICE_OFFICER, Role.PROSECUTOR)
DISCLOSURE_NOTE = (
    "What a subscriber sees of each field follows its class (`x-data-class`) and the "
    "disclosure policy (GET /v1/disclosure, version {version}); `x-disclosure` gives it per "
    "subscribing role by webhook: a webhook carries the event as its subscription owner's "
    'role is shown it, a value withheld reading {{"withheld": true}}. On NATS a subscriber '
    "reads the stored event: personal data (names, contacts, words) sealed (`$sealed`), no "
    "subscriber can open it, and every other field as stored, staff ids included; use "
    "webhooks to receive exactly your role's view."
)


def _schema(model: type[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    return dict(schema)


def _annotate(node: Any) -> None:
    """Add `x-disclosure` (role -> shown, pseudonymised or withheld) beside every
    `x-data-class` of a schema, in place."""
    if isinstance(node, list):
        for item in node:
            _annotate(item)
        return
    if not isinstance(node, dict):
        return
    marker = node.get(CLASS_KEY)
    if isinstance(marker, dict):
        data_class = DataClass(marker["class"])
        node["x-disclosure"] = {role.value: POLICY[role][data_class].value for role in SUBSCRIBERS}
    for value in node.values():
        _annotate(value)


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
    _annotate(schemas)
    _annotate(messages)
    note = DISCLOSURE_NOTE.format(version=POLICY_VERSION)
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": "1.0.0", "description": f"{description}\n\n{note}"},
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


# What travels beside the body, on NATS and on webhooks alike.
TRACE_HEADERS = {
    "type": "object",
    "properties": {
        "traceparent": {
            "type": "string",
            "description": "W3C trace context of the append (on a webhook: of the delivery "
            "attempt, in the same trace); the event's own `traceparent` names the append",
        },
        "tracestate": {"type": "string", "description": "W3C trace state, when any"},
    },
}


def _message(cls: type[EventData], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": cls.type_name(),
        "title": cls.__name__,
        "summary": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "contentType": CONTENT_TYPE,
        "headers": TRACE_HEADERS,
        "payload": payload,
    }
