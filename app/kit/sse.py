"""Server-Sent Events on the wire: framing, and a response that stops when the client goes
(shared by the package streams, ``app/live``, and the activity stream, ``app/activity``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.kit.http_docs import header_refs

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(event_id: str, name: str, data: str) -> str:
    """One event; ``id:`` is what ``Last-Event-ID`` sends back on a reconnect. ``data`` is
    one line of JSON."""
    return f"id: {event_id}\nevent: {name}\ndata: {data}\n\n"


def documented_stream(
    description: str,
    name: str,
    id_pattern: str,
    schema: str,
    *,
    example_id: str,
    example: dict[str, Any],
    retry_ms: int,
) -> dict[str, Any]:
    """The OpenAPI 200 answer of an event stream whose events are all ``name``, with ids of
    ``id_pattern`` and the component ``schema`` as JSON in ``data`` (``example`` one such).

    OpenAPI 3.1 has no keyword for one item of a stream (3.2's ``itemSchema``, which 3.1 tools
    refuse); tools that read 3.1 streams (schemathesis among them) take a ``text/event-stream``
    ``schema`` as the schema of each event, so that is what it describes."""
    data = json.dumps(example, separators=(",", ":"))
    return {
        "description": description,
        "headers": header_refs(*SSE_HEADERS),
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": f"each event of the stream, a `{name}` event: its `data` is JSON, "
                    f"one {schema} (between events, heartbeat comments)",
                    "required": ["event", "id", "data"],
                    "properties": {
                        "event": {"const": name},
                        "id": {"type": "string", "pattern": id_pattern},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": {"$ref": f"#/components/schemas/{schema}"},
                        },
                        "retry": {"type": "integer", "minimum": 0},
                    },
                },
                "example": {"event": name, "id": example_id, "data": data, "retry": retry_ms},
            }
        },
    }


def comment(text: str) -> str:
    """A comment line: keeps proxies and the browser from timing the stream out."""
    return f": {text}\n\n"


def retry(milliseconds: int) -> str:
    """How long ``EventSource`` waits before it reconnects."""
    return f"retry: {milliseconds}\n\n"


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` that always listens for the client's disconnect and then
    cancels the body iterator at once (whatever the server's ASGI spec version), so a
    closed tab releases its subscription immediately, not at the next heartbeat."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code, headers=SSE_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:
                        pass  # the client went away mid-write
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()
