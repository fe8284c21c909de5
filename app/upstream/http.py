"""HTTP for the upstream (and the webhooks): one aiohttp session factory, one upstream pool
whose every call is bounded.

aiohttp is used directly; bench/FINDINGS.md has the comparison with httpx and with httpx
over aiohttp. Every session ``make_session`` makes:

* keeps no cookies: one session serves every caller, so a ``Set-Cookie`` meant for one
  never rides along on another's request;
* reads no proxy or ``.netrc`` settings from the environment and sends no User-Agent of
  its own (callers that want one set it);
* drops idle connections before common upstream keep-alive timeouts (5 s) would.

``UpstreamHttp`` adds the rules of every upstream call:

* **URLs as given.** Callers encode each path segment (``app.kit.links.path_segment``) and
  the URL goes out as already encoded: ``..`` stays ``%2E%2E``, ``a/b`` stays ``a%2Fb``.
* **Retries only where harmless.** A failure before anything was sent (no connection) is
  retried for every method; a broken answer or a 502/503/504 only for GET and PUT. aiohttp
  itself sends a GET or PUT once more when its connection fails under it, never a POST.
* **Bounded answers.** A JSON answer is read in chunks up to ``max_answer_bytes``, counted
  after decompression (aiohttp inflates in bounded steps, only as fast as it is read), so
  a huge, endless or compressed-to-nothing answer stops at the cap (502).
* **A deadline per call**, retries, redirects and reading included: a drip or a silent
  upstream ends within it (504).
* **Abandoned connections are closed.** Only an answer read to its end puts its connection
  back in the pool; one over the cap, past the deadline, cancelled or broken closes it.
* **Downloads hold at most half the pool**, so long CSV streams never starve JSON calls.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
import aiohttp.abc
from yarl import URL

from app.upstream.answers import Answer, raise_for_status
from app.upstream.errors import (
    StreamBrokenOff,
    UpstreamAnswerTooLarge,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

logger = logging.getLogger("app.upstream")

KEEPALIVE_EXPIRY_S = 4.0  # below common upstream keep-alive timeouts (5 s)
RETRYABLE_STATUSES = frozenset({502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
IDEMPOTENT = frozenset({"GET", "PUT"})
PING_S = 2.0
# What a streamed answer forwards of the upstream's headers: the entity as it came.
ENTITY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "etag", "last-modified"})


class _Hop(Protocol):
    """What a redirect is judged by: a read answer, or one whose body is still unread."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


R = TypeVar("R", bound=_Hop)


def make_session(
    *,
    max_connections: int,
    resolver: aiohttp.abc.AbstractResolver | None = None,
    headers: Mapping[str, str] | None = None,
    auto_decompress: bool = True,
) -> aiohttp.ClientSession:
    """A pooled session of at most ``max_connections``; call it inside the running loop."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=0,
        keepalive_timeout=KEEPALIVE_EXPIRY_S,
        enable_cleanup_closed=True,
        resolver=resolver,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers=headers,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=auto_decompress,
        trust_env=False,
        skip_auto_headers=("User-Agent",),
        timeout=aiohttp.ClientTimeout(total=None),  # each call states its own
    )


class LazySession:
    """A session made on first use, inside the event loop that runs its requests (an
    aiohttp session belongs to the loop it was made in)."""

    def __init__(self, make: Callable[[], aiohttp.ClientSession]) -> None:
        self._make = make
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._make()
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body (decoded as aiohttp was told), or ``UpstreamAnswerTooLarge`` as soon
    as it passes ``max_bytes``: never more than that (and one chunk) is held."""
    declared = response.content_length
    if declared is not None and declared > max_bytes and "Content-Encoding" not in response.headers:
        raise UpstreamAnswerTooLarge(f"the upstream's answer is {declared} bytes, over {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamAnswerTooLarge(f"the upstream's answer passed {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Failed(Exception):
    """An attempt that got no usable answer. ``sent``: the request may have reached the
    upstream, so only an idempotent one may be sent again."""

    def __init__(self, error: UpstreamError, *, sent: bool) -> None:
        super().__init__(error.detail)
        self.error = error
        self.sent = sent


@contextmanager
def _failures() -> Iterator[None]:
    """aiohttp's and the socket's errors as failed attempts (subclasses first)."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # no connection: nothing was sent
        raise _Failed(UpstreamTimeout("no upstream connection in time"), sent=False) from exc
    except aiohttp.ClientConnectorError as exc:
        reason = f"the upstream could not be reached ({type(exc).__name__})"
        raise _Failed(UpstreamUnavailable(reason), sent=False) from exc
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        reason = f"the upstream did not answer in time ({type(exc).__name__})"
        raise _Failed(UpstreamTimeout(reason), sent=True) from exc
    except (aiohttp.ClientError, OSError) as exc:
        reason = f"the upstream's answer broke off ({type(exc).__name__})"
        raise _Failed(UpstreamUnavailable(reason), sent=True) from exc


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class StreamedAnswer:
    """An open upstream answer whose body is read as it arrives, still encoded as the
    upstream sent it; the caller must ``aclose()`` it (``chunks()`` does at its end)."""

    def __init__(self, response: aiohttp.ClientResponse, on_close: Callable[[], None]) -> None:
        self._response = response
        # Runs once: at aclose(), or when the stream is dropped unclosed (its slot comes back).
        self._on_close = weakref.finalize(self, on_close)

    @property
    def headers(self) -> dict[str, str]:
        """Entity headers to forward as they came (encoding and length stay true)."""
        return {k.lower(): v for k, v in self._response.headers.items() if k.lower() in ENTITY_HEADERS}

    async def chunks(self) -> AsyncIterator[bytes]:
        """The raw bytes. A failure part-way aborts the client's transfer (StreamBrokenOff)
        instead of ending it as if complete."""
        sent = 0
        try:
            async for chunk in self._response.content.iter_any():
                sent += len(chunk)
                yield chunk
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning(
                "upstream stream %s broke off after %d bytes (%s); aborting the client's transfer",
                self._response.url.path,
                sent,
                type(exc).__name__,
            )
            raise StreamBrokenOff(f"the upstream stream broke off after {sent} bytes") from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """A body read to its end lets the connection go back to the pool; any other is
        closed, since the rest of its answer would still be on it."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()
        self._on_close()


class UpstreamHttp:
    """The process's one upstream pool (JSON calls and downloads, on any upstream origin)
    and the rules of every call on it (see the module docstring)."""

    def __init__(
        self,
        *,
        max_connections: int,
        timeout_s: float,
        connect_timeout_s: float,
        retries: int,
        deadline_s: float,
        max_answer_bytes: int,
        resolver: aiohttp.abc.AbstractResolver | None = None,
    ) -> None:
        self._session = LazySession(partial(make_session, max_connections=max_connections, resolver=resolver))
        # connect: waiting for a pooled connection and opening one; sock_read: each read.
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=connect_timeout_s, sock_read=timeout_s
        )
        self._attempts = retries + 1
        self._deadline_s = deadline_s
        self._max_answer_bytes = max_answer_bytes
        self._download_slots = asyncio.Semaphore(max(1, max_connections // 2))

    async def aclose(self) -> None:
        await self._session.aclose()

    async def call(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Answer:
        """One call and its whole answer, whatever its status (the caller judges it)."""
        async with self._deadline():
            return await self._follow(method, url, headers, body, self._exchange, lambda _: None)

    async def open(self, url: str, headers: Mapping[str, str]) -> StreamedAnswer:
        """A GET whose 2xx answer is streamed: its status and headers within the deadline,
        then the body as it comes. Any other answer is read (capped) and raised."""
        slot = self._download_slots
        taken = False
        response: aiohttp.ClientResponse | None = None
        try:
            async with self._deadline():
                await slot.acquire()
                taken = True
                response = await self._follow("GET", url, headers, None, self._open, _close)
                if not 200 <= response.status < 300:
                    answer = await self._read(response)
                    raise_for_status(answer)
                    raise UpstreamBadResponse(f"the upstream answered {answer.status}")  # pragma: no cover
        except BaseException:
            if response is not None:
                response.close()
            if taken:
                slot.release()
            raise
        return StreamedAnswer(response, slot.release)

    async def ping(self, url: str) -> bool:
        """True when the upstream answers HTTP at all (any status), within ``PING_S``."""
        timeout = aiohttp.ClientTimeout(total=PING_S)
        try:
            async with asyncio.timeout(PING_S):
                with _failures():
                    response = await self._session.get().get(
                        URL(url, encoded=True), allow_redirects=False, timeout=timeout
                    )
                response.close()  # the status was all that was wanted
        except (_Failed, TimeoutError):
            return False
        return True

    # -- plumbing ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _deadline(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._deadline_s):
                yield
        except TimeoutError:
            raise UpstreamTimeout(f"the upstream did not answer within {self._deadline_s:g} s") from None

    async def _follow(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        send: Callable[[str, str, Mapping[str, str], bytes | None], Awaitable[R]],
        discard: Callable[[R], None],
    ) -> R:
        """Same-origin redirects followed (the caller's token never leaves the origin)."""
        for _ in range(MAX_REDIRECTS):
            answer = await self._retrying(method, partial(send, method, url, headers, body))
            status, location = answer.status, answer.headers.get("Location")
            if status not in REDIRECTS or not location:
                return answer
            discard(answer)
            target = urljoin(url, location)
            if _origin(target) != _origin(url):
                raise UpstreamBadResponse("the upstream redirected to another origin")
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
            url = target
        return await self._retrying(method, partial(send, method, url, headers, body))

    async def _retrying(self, method: str, attempt: Callable[[], Awaitable[R]]) -> R:
        """Bounded, jittered retries (full jitter: 0 .. 0.1 s × 2^n, so many callers'
        retries spread out), only where a retry cannot do harm."""
        for number in range(1, self._attempts + 1):
            try:
                return await attempt()
            except _Failed as failed:
                if number == self._attempts or (failed.sent and method not in IDEMPOTENT):
                    raise failed.error from failed.__cause__
            await asyncio.sleep(random.uniform(0, 0.1 * 2**number))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, *, decompress: bool
    ) -> aiohttp.ClientResponse:
        with _failures():
            return await self._session.get().request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                auto_decompress=decompress,
                timeout=self._timeout,
            )

    async def _read(self, response: aiohttp.ClientResponse) -> Answer:
        """The answer read whole within the cap; its connection back to the pool, or closed
        when the read did not finish."""
        try:
            with _failures():
                body = await read_capped(response, self._max_answer_bytes)
        except BaseException:
            response.close()
            raise
        response.release()
        return Answer(response.status, response.reason or "", response.headers, body)

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        answer = await self._read(await self._request(method, url, headers, body, decompress=True))
        if answer.status in RETRYABLE_STATUSES and method in IDEMPOTENT:
            raise _Failed(UpstreamUnavailable(f"the upstream answered {answer.status}"), sent=True)
        return answer

    async def _open(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> aiohttp.ClientResponse:
        """Status and headers only; the body stays encoded as sent (forwarded as it is)."""
        response = await self._request(method, url, headers, body, decompress=False)
        if response.status in RETRYABLE_STATUSES and method in IDEMPOTENT:
            response.close()
            raise _Failed(UpstreamUnavailable(f"the upstream answered {response.status}"), sent=True)
        return response


def _close(response: aiohttp.ClientResponse) -> None:
    response.close()
