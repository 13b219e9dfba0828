"""E-mail templates, one folder per protocol version (`<protocol>/v<N>/`), in fr and en.

A template's version is its path and the SHA-256 of its text: the record of a delivery
names exactly which words were sent. Templates carry no student's name and no description
of the content, only references, the step and where to turn.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

import jinja2
import sexto_protocols as protocols


class UnknownTemplate(LookupError):
    """No template of this name ships with the service."""


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message: subject line, text, and the template version it came from."""

    subject: str
    text: str
    template_version: str


def template_name(protocol: str, protocol_version: str | None, kind: str, language: str) -> str:
    """`<protocol>/v<N>/<kind>.<language>` for the case's protocol version (or the current)."""
    version = (protocols.by_id(protocol_version) if protocol_version else None) or (
        protocols.current(protocol)
    )
    if kind == "parents":
        # The protocol file names its parent information documents.
        ref = version.raw.get("parent_information", {}).get(language)
        if isinstance(ref, str):
            return ref
    return f"{version.name}/v{version.version}/{kind}.{language}"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sexto_notification", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - plain-text mail, not HTML; values are refs and labels
        keep_trailing_newline=True,
    )


@functools.cache
def template_version(name: str) -> str:
    """`<name>@sha256:<first 16 hex>` of the template's text."""
    path = resources.files("sexto_notification") / "templates" / f"{name}.txt"
    try:
        text = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise UnknownTemplate(f"no template {name}") from None
    return f"{name}@sha256:{hashlib.sha256(text).hexdigest()[:16]}"


def render(name: str, **values: str) -> Message:
    """Render a template; its first line is `Subject: ...`."""
    version = template_version(name)
    text = _environment().get_template(f"{name}.txt").render(**values)
    first, _, rest = text.partition("\n")
    if not first.startswith("Subject: "):
        raise UnknownTemplate(f"template {name} does not start with a Subject: line")
    return Message(first.removeprefix("Subject: ").strip(), rest.lstrip("\n"), version)
