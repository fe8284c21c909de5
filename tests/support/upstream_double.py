"""A stand-in upstream on a free 127.0.0.1 port, scripted by the test: canned answers,
answers that break off, and hostile ones (huge, endless, a gzip bomb, a drip, silence).

Plain asyncio streams, so every byte and every connection is the test's to see: it
records each request exactly as it arrived (``target`` is the raw path and query), wakes
waiters on each request, and counts the hostile answers still being served, which end
only when the client closes the connection (``wait_until_abandoned``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MiB = 1024 * 1024
FILLER = (b'{"id":"p-000000","status":"DONE","title":"filler"},' * 1400)[: 64 * 1024]
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 302: "Found", 307: "Temporary Redirect"}


@dataclass(frozen=True)
class Received:
    method: str
    target: str  # as sent: percent-encoding untouched
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def partner(self) -> str:
        return self.headers.get("x-preferred-partner-id", "")


# A behaviour answers one request; it returns whether the connection may serve another.
Behaviour = Callable[[Received, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(
    status: int = 200, json_body: Any = None, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> Behaviour:
    """A complete answer, the connection kept alive."""
    content = json.dumps(json_body).encode() if json_body is not None else body
    fields = {"Content-Type": "application/json", **(headers or {}), "Content-Length": str(len(content))}

    async def answer(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(_head(status, fields) + content)
        await writer.drain()
        return True

    return answer


def late(delay_s: float, behaviour: Behaviour) -> Behaviour:
    """``behaviour`` once ``delay_s`` has passed: a slow upstream that does answer."""

    async def answer(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(delay_s)
        return await behaviour(request, reader, writer)

    return answer


async def drop(request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """The request was read; the connection closes with no answer (a server crash)."""
    return False


def gzip_bomb(inflated_bytes: int) -> bytes:
    """Zeros, gzip-compressed at the highest level (about a thousandth of their size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(inflated_bytes // MiB)]
    return b"".join([*parts, compressor.flush()])


class UpstreamDouble:
    """Routes are tried in the order given; each serves its behaviours in turn, repeating
    the last. A request no route takes is a 404."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._routes: list[tuple[Callable[[Received], bool], list[Behaviour]]] = []
        self._changed = asyncio.Condition()
        self._hostile = 0  # hostile answers still being served
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def start(self) -> UpstreamDouble:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def on(self, method: str, path: str, *behaviours: Behaviour, partner: str | None = None) -> None:
        """Answer ``method path`` (exact path, any query) with ``behaviours``."""

        def matches(request: Received) -> bool:
            return (
                request.method == method
                and request.path == path
                and (partner is None or request.partner == partner)
            )

        self.when(matches, *behaviours)

    def when(self, matches: Callable[[Received], bool], *behaviours: Behaviour) -> None:
        self._routes.append((matches, list(behaviours)))

    def calls(self, method: str, path: str) -> list[Received]:
        return [r for r in self.received if r.method == method and r.path == path]

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float) -> None:
        """Wakes on every request and every hostile answer's end; no polling."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(condition)

    async def wait_until_abandoned(self, timeout_s: float) -> None:
        """Until the client has closed every connection a hostile answer was served on."""
        await self.wait_for(lambda: self._hostile == 0, timeout_s)

    # -- hostile answers: each ends only when the client closes its connection ----------

    def hostile(
        self, serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    ) -> Behaviour:
        async def answer(
            request: Received, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> bool:
            await self._count_hostile(+1)
            try:
                with contextlib.suppress(ConnectionError):
                    await serve(reader, writer)
                    await reader.read()  # whatever was sent, wait for the client to close
            finally:
                await self._count_hostile(-1)
            return False

        return answer

    def huge(self, size: int) -> Behaviour:
        """``size`` bytes of JSON-like filler with their Content-Length, made as they are sent."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(_head(200, {"Content-Type": "application/json", "Content-Length": str(size)}))
            left = size
            while left > 0:
                writer.write(FILLER[:left])
                left -= len(FILLER)
                await writer.drain()

        return self.hostile(serve)

    def endless(self) -> Behaviour:
        """A chunked answer that never ends."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
            chunk = f"{len(FILLER):x}\r\n".encode() + FILLER + b"\r\n"
            while True:
                writer.write(chunk)
                await writer.drain()

        return self.hostile(serve)

    def compressed(self, bomb: bytes) -> Behaviour:
        """A small gzip body (``gzip_bomb``) that inflates far beyond any cap."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
            writer.write(_head(200, {**head, "Content-Length": str(len(bomb))}) + bomb)
            await writer.drain()

        return self.hostile(serve)

    def drip(self, every_s: float) -> Behaviour:
        """Headers, then one byte every ``every_s`` (each read is quick, the answer never ends)."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
            writer.write(_head(200, head) + b"1\r\n[\r\n")
            await writer.drain()
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every_s):
                        if not await reader.read(1):
                            return  # the client closed
                writer.write(b"1\r\n \r\n")
                await writer.drain()

        return self.hostile(serve)

    def silent(self) -> Behaviour:
        """The request is taken and never answered."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            return None

        return self.hostile(serve)

    # -- plumbing -----------------------------------------------------------------------

    async def _count_hostile(self, delta: int) -> None:
        async with self._changed:
            self._hostile += delta
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while await self._answer_one(reader, writer):
                    pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        request = Received(method, target, headers, body)
        async with self._changed:
            self.received.append(request)
            self._changed.notify_all()
        for matches, behaviours in self._routes:
            if matches(request):
                behaviour = behaviours.pop(0) if len(behaviours) > 1 else behaviours[0]
                return await behaviour(request, reader, writer)
        return await reply(404, {"detail": f"no route for {method} {request.path}"})(request, reader, writer)
