"""A partner's webhook receiver for tests: a tiny ASGI app under uvicorn on a free port.

Each test takes its own path (``receiver.hook(...)``), scripted to answer with given
statuses (fail N times, 410, a redirect, a slow answer, no answer until released); every
request is recorded and tests await "n requests arrived" on a condition instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import uvicorn

from tests.support.asgi import read_body


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int  # which connection it came on


@dataclass
class Script:
    """Answers in order, then ``then`` for every later request."""

    answers: list[int] = field(default_factory=list)
    then: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body_size: int | None = None  # answer with this many bytes instead of a short text
    held: asyncio.Event | None = None  # set: answer; until then requests hang (connections open)

    def next_status(self) -> int:
        return self.answers.pop(0) if self.answers else self.then


@dataclass
class Traffic:
    """What a hook saw: requests arrived, answered, given up by the client while held."""

    requests: list[Received] = field(default_factory=list)
    answered: list[Received] = field(default_factory=list)
    abandoned: list[Received] = field(default_factory=list)
    open: int = 0  # held right now
    max_open: int = 0  # held at once, at most


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._scripts: dict[str, Script] = {}
        self._traffic: dict[str, Traffic] = {}
        self._arrived = asyncio.Condition()

    def hook(
        self,
        *,
        fail_times: int = 0,
        fail_status: int = 500,
        answers: list[int] | None = None,
        then: int = 200,
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
        body_size: int | None = None,
        hold: bool = False,
    ) -> str:
        """A fresh URL on this receiver with its own script; ``hold``: requests get no answer
        (their connections stay open) until ``release(url)``."""
        path = f"/hooks/{uuid.uuid4().hex}"
        script_answers = list(answers) if answers is not None else [fail_status] * fail_times
        held = asyncio.Event() if hold else None
        self._scripts[path] = Script(script_answers, then, dict(headers or {}), delay_s, body_size, held)
        self._traffic[path] = Traffic()
        return self.base_url + path

    def received(self, url: str) -> list[Received]:
        return list(self._traffic[_path(url)].requests) if _path(url) in self._traffic else []

    def traffic(self, url: str) -> Traffic:
        return self._traffic[_path(url)]

    def release(self, url: str) -> None:
        """A held hook answers its open requests, and every later one at once."""
        held = self._scripts[_path(url)].held
        assert held is not None, "not a held hook"
        held.set()

    async def wait_for(self, url: str, count: int, *, timeout_s: float = 20.0) -> list[Received]:
        """Wait until ``count`` requests reached ``url``; returns them all."""
        traffic = self.traffic(url)
        await self.wait_until(lambda: len(traffic.requests) >= count, timeout_s=timeout_s)
        return self.received(url)

    async def wait_until(self, condition: Callable[[], bool], *, timeout_s: float = 20.0) -> None:
        """Wait until ``condition`` (of ``traffic(url)``, say) holds; checked whenever a request
        arrives, is held, answered or abandoned."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(condition)

    async def _changed(self, change: Callable[[], None]) -> None:
        async with self._arrived:
            change()
            self._arrived.notify_all()

    async def _hold(self, held: asyncio.Event, receive, traffic: Traffic) -> bool:
        """Until released (True) or the client gives up and disconnects (False)."""

        def opened() -> None:
            traffic.open += 1
            traffic.max_open = max(traffic.max_open, traffic.open)

        await self._changed(opened)
        released = asyncio.ensure_future(held.wait())
        disconnected = asyncio.ensure_future(receive())  # the body was read: only a disconnect comes
        try:
            await asyncio.wait([released, disconnected], return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            disconnected.cancel()
            await self._changed(lambda: setattr(traffic, "open", traffic.open - 1))
        return held.is_set()

    async def __call__(self, scope: dict, receive, send) -> None:
        assert scope["type"] == "http"
        body = await read_body(receive)
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        script = self._scripts.get(path)
        status = script.next_status() if script else 404
        traffic = self._traffic.get(path)
        request = Received(path, headers, body, scope["client"][1])
        if traffic is not None:
            await self._changed(lambda: traffic.requests.append(request))
        held = script.held if script and script.held and not script.held.is_set() else None
        if held is not None and traffic is not None and not await self._hold(held, receive, traffic):
            await self._changed(lambda: traffic.abandoned.append(request))
            return
        if script and script.delay_s:
            await asyncio.sleep(script.delay_s)
        extra = script.headers if script and not 200 <= status < 300 else {}
        raw_headers = [(b"content-type", b"text/plain")]
        raw_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        answer = f"answer {status} from {path}".encode()
        if script and script.body_size is not None:
            answer = answer.ljust(script.body_size, b".")
        await send({"type": "http.response.body", "body": answer})
        if traffic is not None:
            await self._changed(lambda: traffic.answered.append(request))


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3] if url.startswith("http") else url


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave pytest's signal handlers alone."""
        yield


@contextlib.asynccontextmanager
async def running_receiver():
    # The socket listens before uvicorn runs, so connections queue instead of being refused.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    receiver = Receiver(sock.getsockname()[1])
    server = _Server(uvicorn.Config(receiver, log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
