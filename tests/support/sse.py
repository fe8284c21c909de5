"""A small Server-Sent Events reader over an httpx streaming response (as EventSource parses)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

# Explicit client timeouts for event-stream routes. A stream's heartbeats keep every read
# alive, so a read timeout alone never ends one opened by mistake: a request expected to be
# answered without a stream is checked on its headers (``answer_without_stream``) and one
# expected to stream on its status (``expect_stream``), each failing at once and saying why.
ANSWER_TIMEOUT = httpx.Timeout(10.0)
STREAM_TIMEOUT = httpx.Timeout(10.0, read=30.0)  # a read waits longer than one heartbeat (15 s)


@dataclass
class ServerSentEvent:
    id: str | None
    event: str
    data: str

    @property
    def number(self) -> int:
        """The ``id:`` as the sequence number it is."""
        assert self.id is not None, "the event has no id"
        return int(self.id)

    def json(self) -> Any:
        return json.loads(self.data)


class EventReader:
    """``await reader.next()`` → the next event, or None when the server ended the stream."""

    def __init__(self, response: httpx.Response, *, timeout_s: float = 20.0) -> None:
        self._lines = response.aiter_lines()
        self._timeout_s = timeout_s
        self.comments: list[str] = []
        self.retry: int | None = None

    async def next(self) -> ServerSentEvent | None:
        async with asyncio.timeout(self._timeout_s):
            return await self._next()

    async def event(self) -> ServerSentEvent:
        """The next event, which must come (the stream must not have ended)."""
        event = await self.next()
        assert event is not None, "the stream ended before the expected event"
        return event

    async def rest(self) -> list[ServerSentEvent]:
        """Every event until the end of the stream."""
        events = []
        while (event := await self.next()) is not None:
            events.append(event)
        return events

    async def _next(self) -> ServerSentEvent | None:
        event_id: str | None = None
        name, data = "message", list[str]()
        async for line in self._lines:
            if not line:
                if data:
                    return ServerSentEvent(event_id, name, "\n".join(data))
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                event_id = value
            elif field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "retry" and value.isdigit():
                self.retry = int(value)
        return None


def is_event_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


async def expect_stream(response: httpx.Response) -> None:
    """The response must be an open event stream; anything else fails with its status and body."""
    if response.status_code != 200 or not is_event_stream(response):
        body = (await response.aread())[:1000].decode(errors="replace")
        pytest.fail(
            f"{response.request.url.path}: expected an event stream, got {response.status_code}: {body}"
        )


async def answer_without_stream(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """A GET of an event-stream route that must be answered without a stream (a refusal, a
    204): a stream opened by mistake fails here as soon as its headers come, not at pytest's
    timeout. The body of any other answer is read, so ``.json()`` works."""
    async with client.stream("GET", url, headers=headers, params=params, timeout=ANSWER_TIMEOUT) as response:
        if is_event_stream(response):
            pytest.fail(
                f"GET {response.request.url.path}: an event stream was opened ({response.status_code})"
            )
        await response.aread()
    return response
