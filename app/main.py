"""create_app(): routers, middleware, exception handlers and the lifespan of the API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from app.builds.router import router as builds_router
from app.catalog.router import router as catalog_router
from app.clients import make_pubsub_client, make_queue, make_redis, make_upstream
from app.deps import Services
from app.drafts.router import router as drafts_router
from app.errors import ServiceUnavailable, install_error_handlers, problem_response, problem_schema
from app.exports.router import router as exports_router
from app.live.router import router as live_router
from app.middleware import RequestIdMiddleware
from app.observability.logs import ensure_logging
from app.observability.router import router as operations_router
from app.packages.router import router as packages_router
from app.pubsub import ChannelHub
from app.settings import Settings, get_settings
from app.webhooks.router import router as webhooks_router

logger = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    redis = make_redis(settings)
    upstream = make_upstream(settings)
    queue = make_queue(settings)
    hub = ChannelHub(lambda: make_pubsub_client(settings))
    app.state.services = Services(settings=settings, redis=redis, upstream=upstream, queue=queue, hub=hub)
    try:
        yield
    finally:
        hub.end_streams()
        await hub.aclose()
        await upstream.aclose()
        await redis.aclose(close_connection_pool=True)
        await queue.aclose(close_connection_pool=True)


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
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problem_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Package Builder BFF",
        version="1.0.0",
        description="Simplified, aggregated endpoints over the Package Builder API.",
        lifespan=lifespan,
        # Route names (verb_resource) are the operation ids the SPA's generated client uses.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_exception_handler(RedisError, _redis_down)
    app.include_router(operations_router)
    app.include_router(live_router)
    app.include_router(builds_router)
    app.include_router(packages_router)
    app.include_router(exports_router)
    app.include_router(catalog_router)
    app.include_router(drafts_router)
    app.include_router(webhooks_router)
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
            ],
            max_age=600,
        )
    app.add_middleware(RequestIdMiddleware)
    return app


def __getattr__(name: str) -> FastAPI:
    """``uvicorn app.main:app``: the app is built on first access, after settings load."""
    if name == "app":
        settings = get_settings()
        ensure_logging(settings.log_format)  # uvicorn's CLI configured its own: ours replaces it
        application = create_app(settings)
        globals()["app"] = application
        return application
    raise AttributeError(name)
