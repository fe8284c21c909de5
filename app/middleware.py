"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a stream per request)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import request_context
from app.observability.metrics import observe_request

logger = logging.getLogger("app.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_PARTNER_HEADER = b"x-preferred-partner-id"


class RequestIdMiddleware:
    """Takes a sane incoming ``X-Request-ID`` or makes one; echoes it; times the request;
    writes the access line. Every log line written while serving carries the request id
    (and the partner named by the request's header, when it is a sane value)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = partner = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == _PARTNER_HEADER:
                partner = value.decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        with request_context(
            request_id=request_id,
            partner=partner if _VALID_REQUEST_ID.match(partner) else None,
            route=lambda: _template(scope),  # known once routing is done
        ):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                template = _template(scope) or "unmatched"
                elapsed = time.perf_counter() - started
                observe_request(scope["method"], template, status_holder[0], elapsed)
                logger.info(
                    "%s %s %d",
                    scope["method"],
                    template,
                    status_holder[0],
                    extra={
                        "route": template,
                        "method": scope["method"],
                        "status": status_holder[0],
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )


def _template(scope: Scope) -> str | None:
    """The matched route's path template (``/v1/packages/{package_id}``), never the raw path."""
    return getattr(scope.get("route"), "path", None)
