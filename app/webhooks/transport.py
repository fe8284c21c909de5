"""The worker's client for partner endpoints: aiohttp directly, with the SSRF guard.

A delivery needs one POST and the first 2 KB of the answer; its session comes from the
one session factory (``app.upstream.http.make_session``: no cookies, no proxies from the
environment), with these guarantees on top:

* **SSRF.** A new connection resolves the host with ``GuardedResolver``, is refused when
  any address is not public, and connects to the very addresses that were checked
  (aiohttp connects to what the resolver returns, and keeps the host name for TLS and
  ``Host``). IP-literal hosts never reach a resolver, so they are checked before the
  request.
* **No redirects, no cookies, no proxies from the environment**: one partner's endpoint
  must never see another's cookie (the factory's session keeps none), and a 3xx is a
  failed attempt, never followed.
* **Bounded answers.** Only the first ``RESPONSE_BODY_LIMIT`` bytes are read, undecoded
  (``Accept-Encoding: identity``, no decompression: a compressed answer cannot expand);
  a connection whose answer was not read to the end is closed, not reused.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import aiohttp
import aiohttp.abc
from yarl import URL

from app.upstream.http import LazySession, make_session
from app.webhooks.ssrf import Policy, TargetRefused, refusal, resolve

RESPONSE_BODY_LIMIT = 2048


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


@dataclass(frozen=True, slots=True)
class Answer:
    """What a delivery attempt keeps of an endpoint's answer."""

    status: int
    latency_ms: int  # until the status line and headers arrived
    location: str | None
    retry_after: str | None
    body_prefix: bytes  # at most RESPONSE_BODY_LIMIT bytes, as sent


class WebhookClient:
    """One connection pool of a worker for partner endpoints; ``policy`` None: no SSRF guard."""

    def __init__(
        self, policy: Policy | None = refusal, *, user_agent: str, max_connections: int = 100
    ) -> None:
        self._policy = policy
        self._pool = LazySession(
            partial(
                make_session,
                max_connections=max_connections,
                resolver=GuardedResolver(policy) if policy is not None else None,
                headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
                auto_decompress=False,  # only a prefix is kept, as sent
            )
        )

    def _check_literal(self, host: str | None) -> None:
        """An IP-literal host skips the resolver, so the policy sees it here."""
        if self._policy is None or host is None:
            return
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return
        message = self._policy(host, [literal])
        if message is not None:
            raise TargetRefused(f"refused: {message}; no request was made")

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST ``body`` once. Raises ``TargetRefused`` (nothing was sent), ``aiohttp.ClientError``,
        ``OSError`` or ``ValueError`` (a malformed URL); the caller bounds the time."""
        target = URL(url)
        self._check_literal(target.host)
        started = time.perf_counter()
        async with self._pool.get().post(
            target, data=body, headers=headers, allow_redirects=False
        ) as response:
            latency_ms = round((time.perf_counter() - started) * 1000)
            prefix = bytearray()
            while len(prefix) < RESPONSE_BODY_LIMIT:
                chunk = await response.content.read(RESPONSE_BODY_LIMIT - len(prefix))
                if not chunk:
                    break
                prefix += chunk
            return Answer(
                status=response.status,
                latency_ms=latency_ms,
                location=response.headers.get("Location"),
                retry_after=response.headers.get("Retry-After"),
                body_prefix=bytes(prefix),
            )

    async def aclose(self) -> None:
        await self._pool.aclose()
