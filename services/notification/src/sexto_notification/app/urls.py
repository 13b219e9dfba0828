"""Which webhook addresses are called: https, public addresses only (unless development).

Checked when a subscription is made and again before each attempt (a name may come to
resolve elsewhere). Every address a name resolves to must be global: loopback, private,
link-local, carrier-grade NAT and other special ranges are refused, whatever way the host
is written (`127.1`, `2130706433`, `0x7f000001`, `localhost` all resolve to loopback).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class RefusedAddress(ValueError):
    """The address may not be called."""


def check_form(url: str, allow_insecure: bool) -> str:
    """The URL if its form is acceptable (scheme, host, no credentials)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedAddress("url: give an absolute https:// address")
    if parts.username or parts.password:
        raise RefusedAddress("url: credentials in the address are refused; the secret signs")
    if parts.scheme != "https" and not allow_insecure:
        raise RefusedAddress("url: only https:// addresses are called")
    return url


async def check_destination(url: str, allow_insecure: bool) -> None:
    """Refuse a host that is, or resolves to, a non-public address."""
    if allow_insecure:
        return
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise RefusedAddress(f"url: the host {host} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise RefusedAddress(
                f"url: {host} resolves to a non-public address; only public hosts are called"
            )
