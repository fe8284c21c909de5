"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a stream per request)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import time
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.errors import (
    BadRequest,
    PayloadTooLarge,
    ProblemError,
    ValidationProblem,
    field_error,
    problem_response,
)
from app.kit.ratelimit import RATE_LIMIT_HEADERS
from app.kit.tracing import continue_trace
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
        incoming = partner = traceparent = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == _PARTNER_HEADER:
                partner = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value.decode("latin-1")
        # 128 random bits as 32 hex digits: unguessable, and cheaper than a UUID object
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else os.urandom(16).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["traceparent"] = continue_trace(traceparent)
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                for name, value in scope["state"].get(RATE_LIMIT_HEADERS, {}).items():
                    headers.append((name.lower().encode(), value.encode()))
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
                method, status = scope["method"], status_holder[0]
                duration_ms = round(elapsed * 1000, 1)
                extra = {"method": method, "route": template, "status": status, "duration_ms": duration_ms}
                logger.info("%s %s %d", method, template, status, extra=extra)


def _template(scope: Scope) -> str | None:
    """The matched route's path template (``/v1/packages/{package_id}``), never the raw path."""
    return getattr(scope.get("route"), "path", None)


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request bodies may hold at most {limit} bytes")


class BodyTooSlow(ProblemError):
    status, type_slug, title = 408, "request-timeout", "Request Timeout"


class InvalidJson(ValidationProblem):
    def __init__(self, message: str) -> None:
        super().__init__(f"request body: {message}", errors=[field_error(["body"], message, "json_invalid")])


MAX_OBJECT_MEMBERS = 1_000
"""Members one JSON object of a request body may have: far above any body of the contract,
and it bounds the field errors a body can make (one per unknown member) before validation
runs."""
MAX_SEPARATORS = 20_000
"""``:`` and ``,`` a JSON request body may hold, in text or not: an upper bound of its
members and items, counted before parsing, since parsing costs the event loop time in
proportion to them (a 1 MB body of 100,000 members tens of milliseconds)."""


class TooManySeparators(InvalidJson):
    def __init__(self) -> None:
        super().__init__(
            f"a body may hold at most {MAX_SEPARATORS} ':' and ',' (members and items, in text or not)"
        )


def _reject_non_finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson("numbers must be finite (no NaN, Infinity or overflowing literals)")
    return value


def _reject_constant(name: str) -> Any:
    raise InvalidJson("numbers must be finite (no NaN, Infinity or overflowing literals)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of at most ``MAX_OBJECT_MEMBERS`` members, each name once: a repeated name
    is ambiguous (parsers disagree on which one wins), so it is refused, not resolved."""
    if len(pairs) > MAX_OBJECT_MEMBERS:
        raise InvalidJson(f"an object may have at most {MAX_OBJECT_MEMBERS} members")
    document = dict(pairs)
    if len(document) != len(pairs):
        counts = Counter(name for name, _ in pairs)
        repeated = next(name for name, count in counts.items() if count > 1)
        raise InvalidJson(f"the member {repeated[:64]!r} appears more than once in an object")
    return document


def check_json(body: bytes) -> None:
    """Valid JSON that a parser would accept but we must not: ``NaN``/``Infinity`` (or a
    literal that overflows to them), lone surrogates (``"\\ud800"``), which break encoding
    later, repeated member names and oversized objects. Invalid JSON is left to the
    framework's own 422."""
    if body.count(b":") + body.count(b",") > MAX_SEPARATORS:
        raise TooManySeparators()
    try:
        document = json.loads(
            body, parse_float=_reject_non_finite, parse_constant=_reject_constant, object_pairs_hook=_object
        )
    except (ValueError, RecursionError):
        return
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidJson("strings must be valid Unicode (no lone surrogates such as \\ud800)") from None


class BodyGuardMiddleware:
    """Every request body is hostile until parsed. Over ``max_bytes`` → 413 as soon as
    ``Content-Length`` or the streamed count passes it (nothing more is read); a body that
    trickles in slower than ``read_timeout_s`` per chunk → 408; a JSON body with
    non-finite numbers or lone surrogates → 422. Runs before routing and authentication."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            error: ProblemError = (
                BodyTooLarge(self.max_bytes)
                if length.isdigit()
                else BadRequest("Content-Length is not a number")
            )
            await _answer(scope, receive, send, error)
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = content_type == b"application/json" or content_type.endswith(b"+json")
        guard = _Guard(scope, receive, send)
        try:
            if is_json:
                body = await self._read_all(self._counted(receive, guard))
                check_json(body)
                await self.app(scope, _replay(body, receive), guard.send)
            else:
                await self.app(scope, self._counted(receive, guard), guard.send)
        except (BodyTooLarge, BodyTooSlow, InvalidJson) as exc:
            guard.refused = guard.refused or exc
        if guard.refused is not None and not guard.started:
            await _answer(scope, receive, send, guard.refused)

    @staticmethod
    async def _read_all(receive: Receive) -> bytes:
        """The whole JSON body, refused as soon as it holds more separators than any body
        may (the rest is never read)."""
        chunks = []
        separators = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            separators += chunk.count(b":") + chunk.count(b",")
            if separators > MAX_SEPARATORS:
                raise TooManySeparators()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _counted(self, receive: Receive, guard: _Guard) -> Receive:
        """``receive`` that refuses past the limit or the read timeout, and tells the
        guard, since a framework may turn the exception into an answer of its own."""
        received = 0

        async def counted() -> Message:
            nonlocal received
            try:
                async with asyncio.timeout(self.read_timeout_s):
                    message = await receive()
            except TimeoutError:
                guard.refused = BodyTooSlow(
                    f"the request body did not arrive within {self.read_timeout_s:g} s"
                )
                raise guard.refused from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    guard.refused = BodyTooLarge(self.max_bytes)
                    raise guard.refused
            return message

        return counted


class _Guard:
    """One request's refusal, if any: the app's own answer is then replaced by ours."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        self.started = False
        self.refused: ProblemError | None = None

    async def send(self, message: Message) -> None:
        if self.refused is not None and not self.started:
            return  # the app answered a body we cut off (e.g. "error parsing the body"): ours goes
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read once, then the real channel (disconnects) afterwards."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(scope: Scope, receive: Receive, send: Send, error: ProblemError) -> None:
    """A problem+json answer before the rest of the body is read. The connection is not
    closed at once: uvicorn discards what the client still sends, so the client reads its
    answer instead of a reset (closing with unread data would send one)."""
    await problem_response(Request(scope), error)(scope, receive, send)
