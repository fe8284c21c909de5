"""Factories of the long-lived clients shared by the API and the worker."""

from __future__ import annotations

from typing import Any

import httpx
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import BlockingConnectionPool, Redis

from app.auth import JwksCache, TokenVerifier
from app.settings import Settings
from app.upstream import PackageBuilderClient


def _pool(settings: Settings, *, decode: bool) -> BlockingConnectionPool:
    """Blocking pool: callers wait for a free connection instead of failing at once.
    Connections are made lazily, so a process starts even while Redis is down."""
    return BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
        decode_responses=decode,
    )


def make_redis(settings: Settings) -> Redis:
    """Our own keys (JSON text): responses decoded to str."""
    return Redis(connection_pool=_pool(settings, decode=True))


def make_queue(settings: Settings) -> ArqRedis:
    """arq's enqueue side: arq needs raw bytes, so its pool does not decode."""
    return ArqRedis(_pool(settings, decode=False))


def arq_redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


def make_upstream(settings: Settings) -> PackageBuilderClient:
    """The upstream client; with demo partners configured, one that serves them fixtures."""
    options: dict[str, Any] = {
        "timeout_s": settings.upstream_timeout_s,
        "connect_timeout_s": settings.upstream_connect_timeout_s,
        "max_connections": settings.upstream_max_connections,
        "retries": settings.upstream_retries,
        "transport": settings.upstream_transport,
    }
    if settings.demo_partner_ids:
        from app.upstream.demo import DemoRoutingClient

        return DemoRoutingClient(
            settings.upstream_base,
            settings.data_integrations_base,
            demo_partner_ids=settings.demo_partner_ids,
            **options,
        )
    return PackageBuilderClient(settings.upstream_base, settings.data_integrations_base, **options)


def make_token_verifier(settings: Settings, http: httpx.AsyncClient) -> TokenVerifier:
    """HS256 with ``BFF_JWT_SECRET`` and/or RS256/ES256 from ``BFF_JWT_JWKS_URL``."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    jwks = (
        JwksCache(str(settings.jwt_jwks_url), http, min_refetch_s=settings.jwt_jwks_min_refetch_s)
        if settings.jwt_jwks_url
        else None
    )
    return TokenVerifier(secret=secret, jwks=jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
