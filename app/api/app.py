"""create_app(): routers, middleware, exception handlers and the lifespan of the API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.api.deps import IDENTITY_DEPENDENCIES, SECURITY_SCHEMES, Services
from app.api.middleware import BodyGuardMiddleware, RequestIdMiddleware
from app.api.operations import router as operations_router
from app.auth.tokens import make_token_verifier
from app.builds.router import router as builds_router
from app.catalog.router import router as catalog_router
from app.drafts.router import router as drafts_router
from app.exports.router import router as exports_router
from app.kit.errors import (
    PROBLEM,
    ServiceUnavailable,
    install_error_handlers,
    problem_response,
    problem_schema,
)
from app.kit.http_docs import HEADERS, add_links, header_refs
from app.kit.links import SIGNED_LINK_PARAMETERS, LinkSigner
from app.kit.pubsub import ChannelHub
from app.kit.ratelimit import RateLimiter
from app.kit.redis import make_pubsub_client, make_queue, make_redis
from app.kit.runtime import settle_heap
from app.kit.settings import Settings, get_settings
from app.kit.types import absent_not_null
from app.live.router import router as live_router
from app.live.schemas import PackageStatusEvent
from app.packages.router import router as packages_router
from app.upstream.factory import make_upstream
from app.webhooks.contract import router as webhook_events_router
from app.webhooks.router import router as webhooks_router

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    redis = make_redis(settings)
    upstream = make_upstream(settings)
    queue = make_queue(settings)
    hub = ChannelHub(lambda: make_pubsub_client(settings))
    identity_http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False, follow_redirects=False)
    app.state.services = Services(
        settings=settings,
        redis=redis,
        upstream=upstream,
        queue=queue,
        hub=hub,
        tokens=make_token_verifier(settings, identity_http),
        links=LinkSigner(settings.link_key(), settings.public_base),
        limiter=RateLimiter(redis, rate=settings.rate_limit_rps, burst=settings.rate_limit_burst),
    )
    settle_heap()
    try:
        yield
    finally:
        hub.end_streams()
        await identity_http.aclose()
        await hub.aclose()
        await upstream.aclose()
        await redis.aclose(close_connection_pool=True)
        await queue.aclose(close_connection_pool=True)


ROUTERS = (
    operations_router,
    live_router,
    builds_router,
    packages_router,
    exports_router,
    catalog_router,
    drafts_router,
    webhooks_router,
)

REDIS_OUTAGES = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
"""What a Redis restart, failover or network cut raises (BusyLoadingError and Sentinel's
MasterNotFoundError are ConnectionErrors). Any other RedisError is a bug: a 500, logged."""


def end_streams(app: FastAPI) -> None:
    """Called when the server begins to shut down (``python -m app api``): event streams end
    at once, so open connections drain well within the grace period."""
    services: Services | None = getattr(app.state, "services", None)
    if services is not None:
        services.hub.end_streams()


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    """Redis unreachable: 503 problem+json; the pool reconnects by itself when it returns."""
    logger.warning("redis unavailable: %s", exc)
    unavailable = ServiceUnavailable(
        "a backing store (Redis) is unavailable; try again shortly", headers={"Retry-After": "5"}
    )
    return problem_response(request, unavailable)


def _document_problems(app: FastAPI) -> None:
    """Every error answer in the OpenAPI document points at one ``Problem`` schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                webhooks=app.webhooks.routes,
                servers=SERVERS,
                tags=app.openapi_tags,
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problem_schema()
            _declare_security(schema)
            _complete(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_security(schema: dict[str, Any]) -> None:
    """The security requirement of every operation that depends on the caller's identity
    (``app.api.deps`` reads the headers itself rather than through FastAPI security
    dependencies, which would cost two more dependencies on every request)."""
    schema["components"]["securitySchemes"] = SECURITY_SCHEMES
    authenticated = {
        route.name
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and _calls(route.dependant) & IDENTITY_DEPENDENCIES
    }
    for path in schema["paths"].values():
        for operation in path.values():
            if operation["operationId"] in authenticated:
                operation["security"] = [{name: [] for name in SECURITY_SCHEMES}]


def _calls(dependant: Dependant) -> set[Any]:
    """Every function a route's dependency tree calls."""
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


LINK_OPERATIONS = frozenset({"stream_package_events", "download_customer_list"})
# What any authenticated operation may answer besides its own: the partner header missing or
# malformed (400), identity (401, 403), the partner's rate (429), Redis unreachable (503).
AUTHENTICATED_ANSWERS = {
    "400": "Bad Request",
    "401": "Unauthorized",
    "403": "Forbidden",
    "429": "Too Many Requests",
    "503": "Service Unavailable",
}
# What a request with a body may also get: too large (413), too slow in coming (408).
BODY_ANSWERS = {"408": "Request Timeout", "413": "Content Too Large"}
SERVERS = [{"url": "/", "description": "this API (wherever it is served)"}]


def _complete(schema: dict[str, Any]) -> None:
    """What holds for every operation, said once: FastAPI lists each security dependency as
    an alternative, but token and partner are needed together (the signed-link operations
    also work with neither, ``{}``); every answer carries ``X-Request-ID``; every
    authenticated one the partner's rate-limit headers, and may be any of
    ``AUTHENTICATED_ANSWERS``; links say where an answer's ids lead."""
    schema["components"]["headers"] = HEADERS
    schema["components"]["schemas"]["PackageStatusEvent"] = PackageStatusEvent.model_json_schema()
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            _complete_operation(operation)
    add_links(schema)


def _declare(responses: dict[str, Any], answers: dict[str, str]) -> None:
    for status, description in answers.items():
        responses.setdefault(status, {"description": description, **PROBLEM})


def _complete_operation(operation: dict[str, Any]) -> None:
    requirements = operation.get("security")
    responses = operation["responses"]
    parameters = operation.get("parameters", [])
    if requirements:
        combined = {name: scopes for requirement in requirements for name, scopes in requirement.items()}
        linked = operation.get("operationId") in LINK_OPERATIONS
        operation["security"] = [combined, {}] if linked else [combined]
        _declare(responses, AUTHENTICATED_ANSWERS)
        responses["429"]["headers"] = header_refs("Retry-After")
    if parameters or "requestBody" in operation:
        _declare(responses, {"422": "Unprocessable Content"})
    if "requestBody" in operation:
        _declare(responses, BODY_ANSWERS)
    for parameter in parameters:
        absent_not_null(parameter["schema"])  # a parameter is sent or not; never null
        if operation.get("operationId") in LINK_OPERATIONS and parameter["in"] == "query":
            parameter["schema"].update(SIGNED_LINK_PARAMETERS.get(parameter["name"], {}))
    idempotent = any(p.get("name") == "Idempotency-Key" for p in parameters)
    for status, response in responses.items():
        for media in response.get("content", {}).values():
            if "itemSchema" in media:  # an event stream: each event is described, not the whole
                media.pop("schema", None)
        headers = response.setdefault("headers", {})
        headers.update(header_refs("X-Request-ID"))
        if idempotent and status.startswith("2"):
            headers.update(header_refs("Idempotent-Replayed"))
        if requirements:
            headers.update(header_refs("RateLimit-Policy", "RateLimit"))
        if status == "503":
            headers.update(header_refs("Retry-After"))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPIOffline(  # Swagger UI (/docs) and ReDoc (/redoc) served from the package, no CDN
        title="Package Builder BFF",
        version="1.0.0",
        description="Simplified, aggregated endpoints over the Package Builder API.",
        lifespan=lifespan,
        # Route names (verb_resource) are the operation ids the SPA's generated client uses.
        generate_unique_id_function=lambda route: route.name,
        # FastAPI's own OpenTelemetry instrumentation is off: this service reports through its
        # Prometheus metrics and JSON access line and propagates `traceparent` itself; with no
        # SDK installed, the instrumentation only asked "is a provider configured?" on every
        # request (2 % of a status request's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    for outage in REDIS_OUTAGES:
        app.add_exception_handler(outage, _redis_down)
    for router in ROUTERS:
        app.include_router(router)
    app.webhooks.include_router(webhook_events_router)
    _document_problems(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
                "X-Preferred-Partner-Id",
                "X-Request-ID",
                "Last-Event-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "X-Request-ID",
                "Content-Disposition",
                "Idempotent-Replayed",
                "RateLimit",
                "RateLimit-Policy",
                "Age",
            ],
            max_age=600,
        )
    app.add_middleware(
        BodyGuardMiddleware, max_bytes=settings.max_body_bytes, read_timeout_s=settings.body_read_timeout_s
    )
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer has its request id
    return app
