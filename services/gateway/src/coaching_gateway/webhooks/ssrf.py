"""The SSRF guard: a webhook may only call the public internet.

Anyone allowed to manage webhooks may register an endpoint, and the gateway then sends
requests to it from inside the cluster; without a guard that is a way to reach the metadata
service (169.254.169.254), the database, or the services' own ports. So:

- the URL must be `https`, with a host and without credentials in it;
- every address the host resolves to must be global (not private, loopback, link-local,
  shared, reserved, multicast or unspecified; an IPv4-mapped IPv6 address is judged as the
  IPv4 one);
- the check runs again at each delivery, and the request goes to the address that was
  checked (the URL's host kept for `Host` and TLS SNI), so a name that re-resolves to an
  internal address between check and connect (DNS rebinding) gains nothing;
- redirects are never followed (dispatcher.py), so a public endpoint cannot bounce the
  request inward.

`GATEWAY_WEBHOOK_ALLOW_PRIVATE=1`, for a development machine and the tests, whose receivers
listen on this machine or its network without TLS, lets private (RFC 1918, IPv6 unique
local) and loopback addresses through, and plain `http`. Link-local addresses (the cloud
metadata service) and the other special ranges stay refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeUrlError(ValueError):
    """The URL may not be called: the message says why."""


@dataclass(frozen=True)
class Target:
    """Where to send: the URL with the checked address as its host, and the extensions and
    `Host` header that keep the original name for the server and for TLS."""

    url: httpx.URL
    host_header: str
    extensions: dict[str, Any]


# What GATEWAY_WEBHOOK_ALLOW_PRIVATE lets through, besides loopback.
PRIVATE_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


class Guard:
    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private

    def check_url(self, url: str) -> httpx.URL:
        """The parsed URL, or UnsafeUrlError for one the guard refuses by its form."""
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
            raise UnsafeUrlError("the URL contains spaces or control characters")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UnsafeUrlError(f"not a URL: {exc}") from exc
        schemes = ("https", "http") if self.allow_private else ("https",)
        if parsed.scheme not in schemes:
            raise UnsafeUrlError(f"the URL must use {' or '.join(schemes)}")
        if not parsed.host:
            raise UnsafeUrlError("the URL has no host")
        if parsed.userinfo:
            raise UnsafeUrlError("the URL may not carry credentials")
        return parsed

    async def target(self, url: str) -> Target:
        """Resolve the URL's host, check every address, and pin the first."""
        parsed = self.check_url(url)
        addresses = await _resolve(parsed.host, parsed.port or _default_port(parsed.scheme))
        for address in addresses:
            self.check_address(address)
        pinned = parsed.copy_with(host=str(addresses[0]))
        host_header = parsed.netloc.decode("ascii")
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
        return Target(pinned, host_header, extensions)

    def check_address(self, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if self.allow_private and (
            address.is_loopback or any(address in network for network in PRIVATE_NETWORKS)
        ):
            return
        if not address.is_global or address.is_multicast:
            raise UnsafeUrlError(f"{address} is not a public address")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeUrlError(f"{host} does not resolve: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeUrlError(f"{host} does not resolve")
    return addresses
