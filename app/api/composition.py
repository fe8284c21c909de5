"""The API process's lifespan: its clients and domain services, built once, provided to
requests by their keys (``app.kit.state.Provided``), closed at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app.activity.deps import ACTIVITY, ACTIVITY_LOG, ACTIVITY_STREAMS
from app.activity.log import ActivityLog
from app.activity.outbox import Outbox
from app.activity.service import ActivityService
from app.activity.stream import ActivityStreams
from app.auth.deps import NO_SERVICE_TOKEN, TOKENS
from app.auth.tokens import make_token_verifier
from app.builds.deps import BUILDS
from app.builds.registry import WatchRegistry
from app.builds.service import BuildService
from app.builds.statuses import StatusStore
from app.catalog.deps import CATALOG
from app.catalog.service import CatalogService
from app.exports.deps import EXPORTS
from app.exports.service import ExportService
from app.exports.store import ExportStore
from app.idempotency import IDEMPOTENCY, IdempotencyService, IdempotencyStore
from app.kit.cache import Cache
from app.kit.deps import HUB, LIMITER, LINKS, QUEUE, REDIS, SETTINGS
from app.kit.links import LinkSigner
from app.kit.pubsub import ChannelHub
from app.kit.ratelimit import RateLimiter, extra_cost
from app.kit.redis import close_redis, make_pubsub_client, make_queue, make_redis
from app.kit.runtime import settle_heap
from app.kit.shutdown import on_termination
from app.listing.keeper import ListKeeper
from app.live.deps import LIVE
from app.live.service import LiveService
from app.observability.metrics_server import MetricsServer
from app.packages.deps import LISTS, PACKAGES
from app.packages.service import PackageService
from app.upstream.deps import UPSTREAM
from app.upstream.factory import make_upstream
from app.webhooks.deps import WEBHOOKS
from app.webhooks.service import WebhookService
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app")


def _provide_services(app: FastAPI) -> None:
    """Domain services hold no per-request state: one each per process (their Lua scripts
    registered once)."""
    settings, redis, upstream = SETTINGS.of(app), REDIS.of(app), UPSTREAM.of(app)
    links, queue = LINKS.of(app), QUEUE.of(app)
    activity = ACTIVITY_LOG.provide(app, ActivityLog.of(redis, settings))
    statuses = StatusStore(redis, Outbox(redis, activity, WebhookStore(redis), queue))
    builds = BUILDS.provide(app, BuildService(upstream, WatchRegistry(redis), statuses, settings, links))
    lists = LISTS.provide(app, ListKeeper(redis, upstream, settings, on_fetch=builds.watch_listed))
    PACKAGES.provide(app, PackageService(upstream, builds, settings, Cache(redis), links, lists))
    CATALOG.provide(app, CatalogService(upstream, Cache(redis), settings.events_cache_ttl_s))
    EXPORTS.provide(app, ExportService(ExportStore(redis), upstream, queue))
    live = LIVE.provide(app, LiveService(builds, HUB.of(app), settings))
    ACTIVITY.provide(app, ActivityService(activity, redis, links))
    limiter = LIMITER.of(app)
    ACTIVITY_STREAMS.provide(
        app,
        ActivityStreams(
            activity,
            HUB.of(app),
            live.slot,
            settings.sse_heartbeat_s,
            charge=lambda partner_id, size: limiter.charge(partner_id, None, extra_cost(size=size)),
        ),
    )
    WEBHOOKS.provide(app, WebhookService(WebhookStore(redis), queue, settings))
    idempotency_store = IdempotencyStore(redis, budget_bytes=settings.idempotency_budget_bytes)
    IDEMPOTENCY.provide(
        app,
        IdempotencyService(
            idempotency_store,
            wait_s=settings.idempotency_wait_s,
            max_answer_bytes=settings.idempotency_max_answer_bytes,
        ),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = SETTINGS.of(app)
    redis = REDIS.provide(app, make_redis(settings))
    queue = QUEUE.provide(app, make_queue(settings))
    upstream = UPSTREAM.provide(app, make_upstream(settings))
    hub = HUB.provide(app, ChannelHub(lambda: make_pubsub_client(settings, redis)))
    identity_http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False, follow_redirects=False)
    TOKENS.provide(app, make_token_verifier(settings, identity_http))
    LINKS.provide(app, LinkSigner(settings.link_key(), settings.public_base))
    LIMITER.provide(
        app,
        RateLimiter(
            redis,
            rate=settings.rate_limit_rps,
            burst=settings.rate_limit_burst,
            subject_rate=settings.rate_limit_subject_rps,
            subject_burst=settings.rate_limit_subject_burst,
        ),
    )
    _provide_services(app)
    if settings.link_key() is not None and settings.upstream_service_token is None:
        logger.warning("%s; until it is set, every signed link answers 503", NO_SERVICE_TOKEN)
    metrics = MetricsServer(host=settings.api_metrics_host, port=settings.api_metrics_port, name="api")
    metrics.start()
    settle_heap()
    try:
        # Under any uvicorn launcher the lifespan's shutdown comes only after every open
        # response ended, which an event stream never does: streams end on the signal itself.
        with on_termination(lambda: end_streams(app)):
            yield
    finally:
        await metrics.stop()
        hub.end_streams()
        await LISTS.of(app).aclose()
        await identity_http.aclose()
        await hub.aclose()
        await upstream.aclose()
        await close_redis(redis)
        await queue.aclose(close_connection_pool=True)


def end_streams(app: FastAPI) -> None:
    """Called on SIGTERM/SIGINT, as the server begins to shut down: every event stream ends
    at once as a complete response, so open connections drain in moments."""
    hub: ChannelHub | None = getattr(app.state, HUB.name, None)
    if hub is not None:
        hub.end_streams()
