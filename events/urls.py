"""Webhook endpoint URLs: https to public addresses only (no SSRF into the private network), except
the hosts the operator allows for development (WEBHOOK_ALLOWED_HOSTS).

Checked when an endpoint is created or changed, and again before every delivery (a name that
resolved to a public address may later resolve to a private one: DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeUrlError(ValueError):
    """The URL may not receive webhooks; the message says why."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and so is any IPv4 address it carries (mapped, 6to4, NAT64, IPv4-compatible):
    ``ipaddress`` calls some of those global whatever they embed."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or address in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return public(embedded)
    return True


def check_syntax(url: str, allowed_hosts: set[str]) -> str:
    """The URL's host, or ``UnsafeUrlError`` for a URL no endpoint may have."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeUrlError("the url must be an absolute https URL")
    if parts.username or parts.password:
        raise UnsafeUrlError("the url must not carry credentials (use the signature to authenticate)")
    if parts.scheme == "http" and host not in allowed_hosts:
        raise UnsafeUrlError("the url must be https (http only for the development hosts the operator allows)")
    try:
        _ = parts.port
    except ValueError as err:
        raise UnsafeUrlError("the url's port is not a number from 0 to 65535") from err
    if host not in allowed_hosts:
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None and not public(literal):
            raise UnsafeUrlError(f"the url's address {literal} is not public (private, loopback or link-local)")
    return host


async def check_address(url: str, allowed_hosts: set[str]) -> None:
    """Resolve the URL's host: every address must be public (``UnsafeUrlError`` otherwise, or when
    it does not resolve)."""
    host = check_syntax(url, allowed_hosts)
    if host in allowed_hosts:
        return
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise UnsafeUrlError(f"the url's host {host} does not resolve") from err
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not public(address):
            raise UnsafeUrlError(f"the url's host {host} resolves to {address}, which is not public")
