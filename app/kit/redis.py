"""Factories of the long-lived clients shared by the API and the worker: Redis at
``BFF_REDIS_URL``, or the primary that ``BFF_REDIS_SENTINELS`` name (the same factories
serve both, so every client follows a failover)."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.kit.settings import Settings


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary found through Sentinel, with the blocking pool's wait for a free connection.
    After a failover, idle connections to the old primary are dropped and new ones go to the
    new primary; commands in between fail (503) instead of hanging."""


def _sentinel(settings: Settings) -> Sentinel:
    """The Sentinels themselves answer quickly or are skipped."""
    return Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinel_addresses,
        sentinel_kwargs={"socket_timeout": 2, "socket_connect_timeout": 2},
    )


def _database_and_credentials(settings: Settings) -> dict[str, Any]:
    """With Sentinel, ``BFF_REDIS_URL`` gives only the database and credentials."""
    parsed = parse_url(settings.redis_url)
    return {key: parsed[key] for key in ("db", "username", "password") if key in parsed}


def _retry_options() -> dict[str, Any]:
    """Ten tries after the first, 50 ms doubling to a 1 s cap, each between half and all of
    it: about five seconds in all. Retried: refused or reset connections (OSError while
    connecting, redis-py's ConnectionError after), timeouts, and LOADING (a ConnectionError
    subclass)."""
    return {
        "retry": Retry(EqualJitterBackoff(cap=1.0, base=0.05), retries=10),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
    }


def _pool(settings: Settings, *, decode: bool) -> ConnectionPool:
    """Blocking pool: callers wait for a free connection instead of failing at once.
    Connections are made lazily, so a process starts even while Redis is down."""
    options: dict[str, Any] = {
        "max_connections": settings.redis_max_connections,
        "timeout": 5,
        "socket_timeout": 5,
        "socket_connect_timeout": 2,
        "health_check_interval": 30,
        "decode_responses": decode,
    }
    if settings.redis_sentinels:
        return BlockingSentinelPool(  # type: ignore[no-untyped-call]
            settings.redis_sentinel_master,
            _sentinel(settings),
            **options,
            **_database_and_credentials(settings),
        )
    return BlockingConnectionPool.from_url(settings.redis_url, **options)


def make_redis(settings: Settings) -> Redis:
    """Our own keys (JSON text): responses decoded to str. Commands fail at once while Redis
    is away: a request gets its 503 without waiting, and the worker's poll loop and jobs
    back off and retry on their own (a delivery a job could not finish is swept up later)."""
    return Redis(connection_pool=_pool(settings, decode=True))


def make_queue(settings: Settings) -> ArqRedis:
    """arq's enqueue side: arq needs raw bytes, so its pool does not decode."""
    return ArqRedis(_pool(settings, decode=False))


def make_pubsub_client(settings: Settings) -> Redis:
    """The connection of the status hub (app/kit/pubsub.py): no read timeout, since a
    subscription waits for messages; keepalive so a dead peer is noticed."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 2,
        "socket_keepalive": True,
    }
    if settings.redis_sentinels:
        primary = _sentinel(settings).master_for(
            settings.redis_sentinel_master, **options, **_database_and_credentials(settings)
        )
        return cast(Redis, primary)
    client: Redis = Redis.from_url(settings.redis_url, **options)
    return client


def arq_redis_settings(settings: Settings) -> RedisSettings:
    """arq's connection, with redis-py's ``Retry``: a command that meets a refused or dropped
    connection, or a Redis still loading its data, is tried again with capped, jittered
    backoff for several seconds, so one stock arq ``Worker`` rides out a
    Redis restart under either launcher. What this cannot cover ends the Worker: a
    connection lost inside a WATCH (redis-py raises ``WatchError`` there rather than retry
    on a new connection), a longer outage, and every error under Sentinel (arq 0.28 passes
    no retry options to Sentinel connections); app/worker/run.py starts a fresh Worker then.

    The retries (``_retry_options``) are bounded, so that arq's own shutdown, which deletes
    its health key first, ends while Redis is away instead of waiting for it."""
    retry_options = _retry_options()
    if settings.redis_sentinels:
        credentials = _database_and_credentials(settings)
        return RedisSettings(
            host=settings.sentinel_addresses,
            sentinel=True,
            sentinel_master=settings.redis_sentinel_master,
            database=credentials.get("db", 0),
            username=credentials.get("username"),
            password=credentials.get("password"),
            **retry_options,
        )
    return dataclasses.replace(RedisSettings.from_dsn(settings.redis_url), **retry_options)
