"""Fault injection and request counting, as plain ASGI middleware.

The middleware resolves the route itself (by `route.name`, which is the operation name),
counts the request, then may delay it, answer an error or a malformed body, drop the
connection before answering, cut a response off half-way, or set a session cookie
(``set_cookie``: a client must never send it back on another caller's request).
"""

import asyncio
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPERATIONS = (
    "list_packages", "create_package", "merge_packages", "get_package",
    "get_evaluation_details", "put_evaluation_details", "get_evaluation",
    "regenerate_package", "get_customer_list", "search_events", "nlq_ids", "create_export",
)  # fmt: skip
FaultMode = Literal["error", "disconnect", "malformed", "truncate", "delay", "set_cookie"]
_MALFORMED_BODY = '{"unexpected": true}'
_TRUNCATE_DEFAULT_BYTES = 65536

_aborting: ContextVar[bool] = ContextVar("simulator_aborting", default=False)


class SimulatedDisconnect(Exception):
    """Raised to make the server close the socket; in-process transports see it as is."""


class _SuppressSimulatedAborts(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _aborting.get()


_LOG_FILTER = _SuppressSimulatedAborts()


def install_log_filter() -> None:
    """Idempotent: `addFilter` ignores a filter that is already installed."""
    logging.getLogger("uvicorn.error").addFilter(_LOG_FILTER)


class FaultSpec(BaseModel):
    """One fault rule; `count` requests are affected (None = until cleared)."""

    route: str = "*"
    partner_id: str | None = None  # only requests with this X-Preferred-Partner-Id (None = all)
    status: int = Field(default=503, ge=100, le=599)
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0)
    count: int | None = Field(default=None, ge=1)
    mode: FaultMode = "error"
    body: str | None = None  # malformed/error: the exact body to send
    after_bytes: int | None = Field(default=None, ge=0)  # truncate: bytes sent before the cut

    @field_validator("route")
    @classmethod
    def _known_route(cls, route: str) -> str:
        if route != "*" and route not in OPERATIONS:
            raise ValueError(f"unknown operation {route!r}; one of {', '.join(OPERATIONS)} or '*'")
        return route


class FaultBook:
    """Active faults, first match wins; `rate` is rolled on a seeded RNG."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        self.faults: list[FaultSpec] = []
        self._rng = random.Random(self._seed)

    def add(self, fault: FaultSpec) -> None:
        self.faults.append(fault)

    def take(self, operation: str, partner_id: str | None) -> FaultSpec | None:
        for fault in self.faults:
            if fault.route not in ("*", operation) or fault.partner_id not in (None, partner_id):
                continue
            if self._rng.random() >= fault.rate:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
            return fault
        return None


class Stats:
    """Requests received per operation and per partner, faulted ones included; response
    body bytes sent per partner and operation; the ``Cookie`` header of each partner's last
    request (None when it sent none)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.by_partner: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.bytes_by_partner: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.last_cookie: dict[str, str | None] = {}
        self.last_traceparent: dict[str, str | None] = {}

    def record(
        self,
        operation: str,
        partner_id: str | None,
        cookie: str | None = None,
        traceparent: str | None = None,
    ) -> None:
        self.requests[operation] += 1
        if partner_id:
            self.by_partner[partner_id][operation] += 1
            self.last_cookie[partner_id] = cookie
            self.last_traceparent[partner_id] = traceparent

    def as_json(self) -> dict[str, object]:
        return {
            "requests": dict(self.requests),
            "by_partner": {partner: dict(counts) for partner, counts in self.by_partner.items()},
            "bytes_by_partner": {partner: dict(sent) for partner, sent in self.bytes_by_partner.items()},
            "last_cookie": dict(self.last_cookie),
            "last_traceparent": dict(self.last_traceparent),
        }


def operation_of(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The upstream operation a request is for, or None (control endpoints, 404s, docs)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            name = getattr(route, "name", None)
            return name if name in OPERATIONS else None
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _send_body(send: Send, status: int, body: str) -> None:
    payload = body.encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _disconnect(send: Send) -> None:
    """Close without answering: uvicorn rejects the header value before writing anything."""
    try:
        await send({"type": "http.response.start", "status": 500, "headers": [(b"x-sim", b"\x00")]})
    except Exception as exc:
        raise SimulatedDisconnect("simulated disconnect") from exc
    raise SimulatedDisconnect("simulated disconnect")


def _counting(send: Send, sent: Counter[str], operation: str) -> Send:
    """A `send` that adds the body bytes it forwards to ``sent[operation]``."""

    async def counting_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            sent[operation] += len(message.get("body", b""))
        await send(message)

    return counting_send


def _setting_cookie(send: Send, partner_id: str | None) -> Send:
    """A `send` that adds a session cookie for the caller's partner to the answer."""
    cookie = f"sim_session={partner_id or 'anonymous'}; Path=/".encode("latin-1")

    async def cookie_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return cookie_send


def _truncating(send: Send, after_bytes: int | None) -> Send:
    """A `send` that forwards part of the body, then aborts the response."""
    sent = 0
    limit = after_bytes

    async def truncating_send(message: Message) -> None:
        nonlocal sent, limit
        if message["type"] == "http.response.start":
            length = dict(message.get("headers", [])).get(b"content-length")
            if limit is None:
                limit = min(_TRUNCATE_DEFAULT_BYTES, int(length) // 2) if length else _TRUNCATE_DEFAULT_BYTES
            await send(message)
            return
        body: bytes = message.get("body", b"")
        room = (limit or 0) - sent
        if message.get("more_body", False) and len(body) < room:
            sent += len(body)
            await send(message)
            return
        cut = body[:room] if len(body) >= room else body[: len(body) // 2]
        if cut:
            await send({"type": "http.response.body", "body": cut, "more_body": True})
        raise SimulatedDisconnect("simulated truncation")

    return truncating_send


class FaultMiddleware:
    """Counts upstream requests and applies the first matching fault."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], faults: FaultBook, stats: Stats) -> None:
        self.app = app
        self.routes = routes
        self.faults = faults
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = operation_of(self.routes, scope) if scope["type"] == "http" else None
        if operation is None:
            await self.app(scope, receive, send)
            return
        partner_id = _header(scope, b"x-preferred-partner-id")
        self.stats.record(operation, partner_id, _header(scope, b"cookie"), _header(scope, b"traceparent"))
        if partner_id:
            send = _counting(send, self.stats.bytes_by_partner[partner_id], operation)
        fault = self.faults.take(operation, partner_id)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.mode in ("disconnect", "truncate"):
            _aborting.set(True)
        if fault.mode == "error":
            await _send_body(send, fault.status, fault.body or '{"detail": "simulated upstream fault"}')
        elif fault.mode == "malformed":
            await _send_body(send, 200, _MALFORMED_BODY if fault.body is None else fault.body)
        elif fault.mode == "disconnect":
            await _disconnect(send)
        elif fault.mode == "truncate":
            await self.app(scope, receive, _truncating(send, fault.after_bytes))
        elif fault.mode == "set_cookie":
            await self.app(scope, receive, _setting_cookie(send, partner_id))
        else:
            await self.app(scope, receive, send)
