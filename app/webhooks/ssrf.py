"""SSRF guard: webhook URLs may only reach public addresses.

Checked twice: when an endpoint is registered (a clear 422) and on every
attempt, inside the connection itself (``transport.GuardedResolver``): the worker
resolves the host, refuses if *any* address is not public, and connects to the
very addresses it checked — so a DNS answer that changes between the check and
the connect (rebinding) cannot slip through. TLS still verifies the hostname.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_S = 5.0
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    }
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")

# The IANA IPv4 and IPv6 Special-Purpose Address Registries (checked 2026-11), every block
# not "globally reachable" or reserved for documentation, benchmarks or local use, plus the
# deprecated site-local fec0::/10. Python's is_private/is_global miss some of these
# (fec0::/10, parts of 192.0.0.0/24 in 3.11), so the list is ours.
SPECIAL_PURPOSE = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
        "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/23", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20",
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip


PRIVATE_TARGETS_HINT = (
    "; a receiver on this machine or a private network needs BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS=true,"
    " a dev-only setting (make run sets it)"
)


class TargetRefused(Exception):
    """The URL's host is not a public address; no connection was made."""


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not receive webhooks, or None when it is a public unicast address."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return blocked_reason(embedded)
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return reason
    if any(address in block for block in SPECIAL_PURPOSE if block.version == address.version):
        return "special-purpose"
    return None if address.is_global else "not globally routable"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """IPv4 carried inside IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, NAT64) is judged as IPv4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def url_problem(url: str) -> str | None:
    """What is wrong with the shape of a webhook URL (no DNS), or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"URL is longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"URL is malformed: {exc}"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs are allowed"
    if not parts.hostname:
        return "URL has no host"
    if parts.username is not None or parts.password is not None:
        return "URL must not contain credentials (user:password@)"
    if port == 0:
        return "URL port must be between 1 and 65535"
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        return "URL must not contain whitespace or control characters"
    return None


def _host_and_port(parts: SplitResult) -> tuple[str, int]:
    assert parts.hostname is not None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, with the event loop's (non-blocking) getaddrinfo."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT_S):
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def refusal(host: str, addresses: Iterable[IPAddress]) -> str | None:
    """The refusal message when ``host`` or any of its addresses is not public. It never
    names the address: a caller must not learn what an internal name resolves to."""
    if host.rstrip(".").lower() in METADATA_HOSTS:
        return f"host {host!r} is a cloud metadata service"
    for address in addresses:
        reason = blocked_reason(address)
        if reason is not None:
            return f"host {host!r} resolves to a non-public ({reason}) address"
    return None


async def target_problem(url: str) -> str | None:
    """Registration check: why this URL may not receive webhooks (shape, DNS, address)."""
    problem = url_problem(url)
    if problem is not None:
        return problem
    host, port = _host_and_port(urlsplit(url))
    if host.rstrip(".").lower() in METADATA_HOSTS:
        refused = refusal(host, ())
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            return f"host {host!r} could not be resolved ({exc.__class__.__name__})"
        refused = refusal(host, addresses)
    return None if refused is None else refused + PRIVATE_TARGETS_HINT


Policy = Callable[[str, list[IPAddress]], str | None]
