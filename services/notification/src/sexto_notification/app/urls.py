"""Which webhook addresses are called: https, public addresses only (unless development).

Checked when a subscription is made, before each attempt (a name may come to resolve
elsewhere), and again at connection time by the HTTP client's own resolver
(`PublicOnlyBackend`), so a name that answers with a public address to the check and a
private one to the connection (DNS rebinding) is still refused. Every address a name
resolves to must be global: loopback, private, link-local, carrier-grade NAT and other
special ranges are refused, whatever way the host is written (`127.1`, `2130706433`,
`0x7f000001`, `localhost`), and so are IPv6 forms carrying such an IPv4 address
(mapped, 6to4, Teredo, NAT64).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx
from sexto_events.messages import Message

NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedAddress(ValueError):
    """The address may not be called."""


class Unresolvable(OSError):
    """The host name does not resolve now (perhaps only for a while)."""


def check_form(url: str, allow_insecure: bool) -> str:
    """The URL if its form is acceptable (scheme, host, port, no credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedAddress(Message("url-invalid", cause=str(exc))) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedAddress(Message("url-not-absolute"))
    if port == 0:
        raise RefusedAddress(Message("url-port-zero"))
    if parts.username or parts.password:
        raise RefusedAddress(Message("url-credentials"))
    if parts.scheme != "https" and not allow_insecure:
        raise RefusedAddress(Message("url-https-only"))
    return url


def is_public(address: str) -> bool:
    """True for a global address (and, for IPv6, no non-global IPv4 address inside)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and not inner.is_global:
            return False
    return True


async def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, all public; raises otherwise."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise Unresolvable(f"the host {host} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(is_public(a) for a in addresses):
        raise RefusedAddress(Message("url-not-public", host=host))
    return addresses


async def check_destination(url: str, allow_insecure: bool) -> None:
    """Refuse a host that is, or resolves to, a non-public address."""
    if allow_insecure:
        return
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # as the client will look it up (its IDNA)
    try:
        await public_addresses(host.strip("[]"), parsed.port or 443)
    except Unresolvable:
        raise RefusedAddress(Message("url-unresolvable", host=host.strip("[]"))) from None


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, refuses any non-public address, connects to the address checked."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await public_addresses(host, port)
        except (RefusedAddress, Unresolvable) as exc:
            raise httpcore.ConnectError(str(exc)) from None
        # TLS still checks the certificate against the host name (the origin's), not the IP.
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def webhook_client(allow_insecure: bool) -> httpx.AsyncClient:
    """The client webhooks are sent with: no redirects, no proxies from the environment,
    and (unless development) public destinations only, checked at connection time."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    if not allow_insecure:
        # httpx has no option for the connection pool's network backend.
        transport._pool._network_backend = PublicOnlyBackend()
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
