"""The webhook client's transport: aiohttp's pool under httpx's API, with the SSRF guard.

httpx's own pool (httpcore + h11) capped one worker at about 200 deliveries a second
(bench/watch_scale.py); aiohttp's pool does several times that. The guard keeps the
semantics of ``ssrf.GuardedNetworkBackend``: a new connection resolves the host, is
refused when any address is not public, and connects to the very addresses that were
checked (aiohttp connects to what the resolver returns, and keeps the host name for TLS).
IP-literal hosts never reach a resolver, so they are checked before the request.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp.abc
import httpx

from app.upstream.transport import AiohttpTransport
from app.webhooks.ssrf import Policy, TargetRefused, refusal, resolve


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves with ``ssrf.resolve`` and refuses hosts the policy refuses."""

    def __init__(self, policy: Policy = refusal) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        try:
            addresses = await resolve(host, port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise OSError(f"could not resolve {host!r}: {exc}") from exc
        message = self._policy(host, addresses)
        if message is not None:
            raise TargetRefused(f"refused: {message}; no request was made")
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class GuardedTransport(AiohttpTransport):
    """``AiohttpTransport`` whose every new connection passes the SSRF policy (None: no guard)."""

    def __init__(self, policy: Policy | None = refusal, *, max_connections: int = 100) -> None:
        super().__init__(
            max_connections=max_connections,
            keepalive_expiry=5.0,
            resolver=GuardedResolver(policy) if policy is not None else None,
        )
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._policy is not None:
            host = request.url.host
            try:
                literal = ipaddress.ip_address(host)
            except ValueError:
                pass
            else:
                message = self._policy(host, [literal])
                if message is not None:
                    refused = TargetRefused(f"refused: {message}; no request was made")
                    raise httpx.ConnectError(str(refused)) from refused
        try:
            return await super().handle_async_request(request)
        except TargetRefused as exc:
            raise httpx.ConnectError(str(exc)) from exc
