"""create_app(): routers, middleware, exception handlers and the lifespan of the API."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from app.activity.router import router as activity_router
from app.api.composition import lifespan
from app.api.docs import document
from app.api.errors import install_error_handlers
from app.api.head import HeadAsGet
from app.api.middleware import BodyGuardMiddleware, RequestIdMiddleware
from app.api.operations import router as operations_router
from app.builds.router import router as builds_router
from app.catalog.router import router as catalog_router
from app.drafts.router import router as drafts_router
from app.exports.router import router as exports_router
from app.kit.deps import SETTINGS
from app.kit.errors import ServiceUnavailable, problem_response
from app.kit.retry import REDIS_UNAVAILABLE
from app.kit.settings import Settings, get_settings
from app.live.router import router as live_router
from app.packages.router import router as packages_router
from app.webhooks.contract import router as webhook_events_router
from app.webhooks.router import router as webhooks_router

logger = logging.getLogger("app")


# Matched in this order, first to last: the packages routes (the hot path) come first.
ROUTERS = (
    packages_router,
    operations_router,
    live_router,
    builds_router,
    exports_router,
    catalog_router,
    drafts_router,
    webhooks_router,
    activity_router,
)


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    """Redis unreachable: 503 problem+json; the pool reconnects by itself when it returns."""
    logger.warning("redis unavailable: %s", exc)
    unavailable = ServiceUnavailable(
        "a backing store (Redis) is unavailable; try again shortly", headers={"Retry-After": "5"}
    )
    return problem_response(request, unavailable)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPIOffline(  # Swagger UI (/docs) and ReDoc (/redoc) served from the package, no CDN
        title="Package Builder BFF",
        version="1.0.0",
        description="Simplified, aggregated endpoints over the Package Builder API.",
        lifespan=lifespan,
        # No redirect to the path without its trailing slash: Starlette's would copy the
        # request's Host header into Location (an open redirect); such a path is a 404.
        redirect_slashes=False,
        # Route names (verb_resource) are the operation ids the SPA's generated client uses.
        generate_unique_id_function=lambda route: route.name,
        # FastAPI's own OpenTelemetry instrumentation is off: this service reports through its
        # Prometheus metrics and JSON access line and propagates `traceparent` itself; with no
        # SDK installed, the instrumentation only asked "is a provider configured?" on every
        # request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    SETTINGS.provide(app, settings)
    install_error_handlers(app)
    for outage in REDIS_UNAVAILABLE:
        app.add_exception_handler(outage, _redis_down)
    for router in ROUTERS:
        app.include_router(router)
    app.webhooks.include_router(webhook_events_router)
    document(app)
    if settings.cors_origins or settings.cors_origin_regex:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_origin_regex=settings.cors_origin_regex,
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
    app.add_middleware(HeadAsGet, router=app.router)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer has its request id
    return app
