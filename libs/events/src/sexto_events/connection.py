"""The NATS connection every service uses."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from nats.aio.client import Client

from sexto_events.inbox import inbox_prefix

_WHITESPACE = re.compile(r"\s")
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() removes


class EventLogClient(Client):
    """nats-py's client with a faster header parser (same rules).

    Every stored event carries about ten headers (message id, expected sequence, and the
    direct-get metadata), and nats-py 2.16 checks each header name character by character
    in a Python generator: about a third of a case load's CPU time. This parser keeps its
    rules (split on ':', skip non-ASCII or whitespace-containing names, strip, decode
    values as UTF-8 with replacement) with the whitespace test done by a compiled regex.
    """

    @staticmethod
    def _parse_header_lines(raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        # Decoding the block once gives the same text as decoding each value: invalid
        # UTF-8 never swallows the ASCII ':' or CRLF that follow it.
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if not sep:
                continue
            key = name.strip(_ASCII_WHITESPACE)
            if not key.isascii() or _WHITESPACE.search(key):
                continue
            out[key] = value.strip(_ASCII_WHITESPACE)
        return out


def server_urls(url: str) -> list[str]:
    """The servers of a comma-separated URL list (a cluster's nodes), in order."""
    return [part.strip() for part in url.split(",") if part.strip()]


def url_credentials(urls: list[str]) -> dict[str, str]:
    """The user and password the URLs carry (the first that has them), as client options."""
    for each in urls:
        parts = urlsplit(each)
        if parts.username is not None and parts.password is not None:
            return {"user": unquote(parts.username), "password": unquote(parts.password)}
    return {}


async def connect(url: str, **options: Any) -> Client:
    """Connect to NATS with the event log's client; `url` may list a cluster's nodes,
    comma-separated, and the client fails over between them."""
    urls = server_urls(url)
    # Credentials in the URLs go to every server, the ones the cluster announces too: the
    # client would otherwise reconnect to an announced node without them and be refused.
    credentials = url_credentials(urls)
    # A user receives replies on its own inbox prefix only (deploy/nats/accounts.conf).
    inbox = {"inbox_prefix": inbox_prefix(credentials["user"])} if credentials else {}
    options = {**credentials, **inbox, **options}
    client = EventLogClient()
    await client.connect(urls, **options)
    return client
