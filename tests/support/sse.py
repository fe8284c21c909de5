"""A small Server-Sent Events reader over an httpx streaming response (as EventSource parses)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx


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
