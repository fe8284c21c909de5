"""An httpx transport over aiohttp's connection pool.

httpx's own pool is the bottleneck under concurrency (encode/httpx#3215; measured
by bench/upstream_transport.py): keeping httpx's API on top of
aiohttp's pool gives several times the throughput. We own this small adapter
instead of using a third-party one so that two things stay exactly right:

* the URL is passed as already encoded, so a ``tc`` of ``..`` or ``a/b``
  reaches the upstream as ``%2E%2E`` / ``a%2Fb`` and is never normalised;
* errors map to the httpx exception that says what happened, because the
  client's retry policy depends on it: a POST is retried only when nothing
  was sent (connect errors), never after a dropped answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from yarl import URL


@contextmanager
def mapped_errors(phase: str) -> Iterator[None]:
    """aiohttp (and asyncio) errors as the httpx errors the client reasons about."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timeout") from exc
    except (TimeoutError, aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError(str(exc) or "server disconnected") from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpx.RemoteProtocolError(str(exc) or "incomplete body") from exc
    except (aiohttp.ClientError, OSError) as exc:
        error = httpx.ReadError if phase == "read" else httpx.RemoteProtocolError
        raise error(str(exc) or type(exc).__name__) from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with mapped_errors("read"):
            async for chunk in self._response.content.iter_any():  # what arrived: fewer, larger chunks
                yield chunk

    async def aclose(self) -> None:
        # Fully read answers go back to the pool; a half-read one must not be reused.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (pool) per transport; created lazily inside the event loop."""

    def __init__(
        self,
        *,
        max_connections: int = 200,
        keepalive_expiry: float = 4.0,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        headers = [
            (k, v) for k, v in request.headers.multi_items() if k.lower() not in ("transfer-encoding", "host")
        ]
        with mapped_errors("send"):
            response = await self._get_session().request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=None,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
