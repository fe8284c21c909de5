"""How JSON calls reach the upstream: one request in, status + headers + whole body out.

The client's hot path needs none of what ``httpx.AsyncClient.send`` does per call (auth
flow, redirect bookkeeping, cookie extraction, event hooks, request and response objects):
measured on ``/status``, that layer cost about as much as the upstream call itself. So
JSON calls go through a channel:

* ``AiohttpChannel`` (the service default) talks to aiohttp's pool directly, with the
  URL passed as already encoded and aiohttp's errors mapped to the httpx exceptions the
  client's retry policy reasons about (see ``transport.py``);
* ``HttpxChannel`` keeps httpx's own pool (``BFF_UPSTREAM_TRANSPORT=httpx``, and the unit
  tests that mock httpx).

Neither keeps cookies: one channel serves every caller, and the upstream's ``Set-Cookie``
for one caller must never ride along on the next caller's request.
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

from app.upstream.transport import AiohttpTransport, mapped_errors

KEEPALIVE_EXPIRY_S = 4.0  # below common upstream keep-alive timeouts (5 s)


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete upstream answer."""

    status: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


class JsonChannel(Protocol):
    async def call(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Answer:
        """One request, its whole answer read; failures raise httpx's exceptions."""
        ...

    async def aclose(self) -> None: ...


def no_cookies() -> http.cookiejar.CookieJar:
    """A jar that accepts and returns no cookie at all."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class AiohttpChannel:
    """aiohttp's pool, used directly; the session is created lazily inside the event loop."""

    def __init__(self, *, max_connections: int, timeout: httpx.Timeout) -> None:
        self._max_connections = max_connections
        self._timeout = self._client_timeout(timeout.read, timeout.connect, timeout.pool)
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def _client_timeout(
        read: float | None, connect: float | None, pool: float | None
    ) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=None, connect=pool, sock_connect=connect, sock_read=read)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=KEEPALIVE_EXPIRY_S,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def call(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Answer:
        timeout = (
            self._timeout if timeout_s is None else self._client_timeout(timeout_s, timeout_s, timeout_s)
        )
        with mapped_errors("send"):
            response = await self._get_session().request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=timeout,
            )
        try:
            with mapped_errors("read"):
                content = await response.read()
        finally:
            response.release()
        return Answer(response.status, response.reason or "", response.headers, content)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxChannel:
    """httpx's own client (no cookie jar, no redirects: the client decides about those)."""

    def __init__(self, *, max_connections: int, timeout: httpx.Timeout) -> None:
        self._client = make_httpx_client("httpx", max_connections, timeout)

    async def call(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Answer:
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        request = self._client.build_request(method, url, headers=headers, content=body, timeout=timeout)
        response = await self._client.send(request)
        return Answer(response.status_code, response.reason_phrase, response.headers, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_httpx_client(
    kind: str, max_connections: int, timeout: httpx.Timeout, *, follow_redirects: bool = False
) -> httpx.AsyncClient:
    """An httpx client over aiohttp's pool or httpx's own, with no cookie jar."""
    if kind == "aiohttp":
        transport: httpx.AsyncBaseTransport = AiohttpTransport(
            max_connections=max_connections, keepalive_expiry=KEEPALIVE_EXPIRY_S
        )
    else:
        transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
            )
        )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=follow_redirects, cookies=no_cookies()
    )


def make_channel(kind: str, max_connections: int, timeout: httpx.Timeout) -> JsonChannel:
    if kind == "aiohttp":
        return AiohttpChannel(max_connections=max_connections, timeout=timeout)
    return HttpxChannel(max_connections=max_connections, timeout=timeout)
