"""HEAD wherever GET is (RFC 9110 §9.3.2): the GET runs and its body is dropped.

FastAPI's routes answer only the methods they declare, so without this a ``HEAD`` of the
CSV link or ``/healthz`` is a 405 whose ``Allow`` names HEAD. Doing it here, once, keeps the
OpenAPI document as it is (HEAD is implied by GET) and gives HEAD exactly GET's status and
headers: identity, partner, rate limit and conditional requests included. A streamed GET
(a CSV, an event stream) is stopped at its first chunk, so HEAD never reads a whole body.
"""

from __future__ import annotations

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyDropped(Exception):
    """Raised from ``send`` to stop a streamed GET once HEAD's answer is complete."""


class HeadAsGet:
    """ASGI middleware: a HEAD to a path some route serves with GET runs as that GET, its
    headers sent and its body not; a HEAD elsewhere goes on as HEAD (404, or 405 with Allow)."""

    def __init__(self, app: ASGIApp, *, router: Router) -> None:
        self.app = app
        self.router = router

    def _served_by_get(self, scope: Scope) -> bool:
        as_get = {**scope, "method": "GET"}
        return any(route.matches(as_get)[0] is Match.FULL for route in self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or not self._served_by_get(scope):
            await self.app(scope, receive, send)
            return
        finished = False

        async def send_headers_only(message: Message) -> None:
            nonlocal finished
            if message["type"] != "http.response.body":
                await send(message)
                return
            if finished:
                raise _BodyDropped
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if message.get("more_body", False):
                raise _BodyDropped  # the rest of a streamed body is never produced

        try:
            # A new scope: the server keeps its own, so it still knows the request was a HEAD.
            await self.app({**scope, "method": "GET"}, receive, send_headers_only)
        except* _BodyDropped:  # alone, or from inside a stream's task group
            pass
