"""Factories of the long-lived clients shared by the API and the worker.

The service's data: Redis at ``BFF_REDIS_URL``, the primary that ``BFF_REDIS_SENTINELS``
name, or (``BFF_REDIS_CLUSTER``) the Redis Cluster that ``BFF_REDIS_URL`` is a node of.
arq's queue: the same Redis, or the one at ``BFF_QUEUE_REDIS_URL`` (directly or through
``BFF_QUEUE_REDIS_SENTINELS``), which a cluster requires. Every client made here follows a
failover (Sentinel's or the cluster's own)."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.kit.keyspace import use_cluster_keys
from app.kit.settings import RedisTarget, Settings


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The primary found through Sentinel, with the blocking pool's wait for a free connection.
    After a failover, idle connections to the old primary are dropped and new ones go to the
    new primary; commands in between fail (503) instead of hanging."""


def _sentinel(target: RedisTarget) -> Sentinel:
    """The Sentinels themselves answer quickly or are skipped."""
    return Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs={"socket_timeout": 2, "socket_connect_timeout": 2},
    )


def _database_and_credentials(target: RedisTarget) -> dict[str, Any]:
    """With Sentinel, the URL gives only the database and credentials."""
    parsed = parse_url(target.url)
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


def _pool(target: RedisTarget, settings: Settings, *, decode: bool) -> ConnectionPool:
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
    if target.sentinels:
        return BlockingSentinelPool(  # type: ignore[no-untyped-call]
            target.sentinel_master,
            _sentinel(target),
            **options,
            **_database_and_credentials(target),
        )
    return BlockingConnectionPool.from_url(target.url, **options)


def make_redis(settings: Settings) -> Redis:
    """Our own keys (JSON text): responses decoded to str. Commands fail at once while Redis
    is away: a request gets its 503 without waiting, and the worker's poll loop and jobs
    back off and retry on their own (a delivery a job could not finish is swept up later).

    With ``BFF_REDIS_CLUSTER``, a ``RedisCluster`` (``_cluster``). It is typed as ``Redis``,
    whose command methods it shares (the same redis-py command mixins), so the stores take
    either; what a cluster cannot do (MULTI, cross-slot keys) is in docs/operations.md.
    Keys are spelled for the one or the other from here on (``keyspace.use_cluster_keys``)."""
    use_cluster_keys(settings.redis_cluster)
    if settings.redis_cluster:
        return cast(Redis, _cluster(settings))
    return Redis(connection_pool=_pool(settings.data_redis, settings, decode=True))


def _cluster(settings: Settings) -> RedisCluster:
    """The cluster that ``BFF_REDIS_URL`` is a node of, found on first use (so a process
    starts while it is away). The single Redis's policy, node by node: no retry on the node
    a command was sent to (``connection_error_retry_attempts=0``); a command that meets a
    dead node, a moved slot or CLUSTERDOWN asks the cluster for its layout again and is
    sent again (``cluster_error_retry_attempts``), MOVED and ASK are followed. At most
    ``BFF_REDIS_MAX_CONNECTIONS`` per node: past them a command fails at once
    (``MaxConnectionsError``), as redis-py's cluster client has no waiting pool."""
    cluster: RedisCluster = RedisCluster.from_url(
        settings.redis_url,
        startup_nodes=[ClusterNode(host, port) for host, port in _known_nodes],
        max_connections=settings.redis_max_connections,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
        decode_responses=True,
        connection_error_retry_attempts=0,
        cluster_error_retry_attempts=3,
    )
    return cluster


def make_queue(settings: Settings) -> ArqRedis:
    """arq's enqueue side, on the queue's Redis: arq needs raw bytes, so its pool does not decode."""
    return ArqRedis(_pool(settings.queue_redis, settings, decode=False))


_known_nodes: set[tuple[str, int]] = set()
"""The nodes of the cluster this process has seen: a client made later (the worker makes one
per arq worker it starts) starts from them as well as from ``BFF_REDIS_URL``, whose node may
be the primary that just died."""


async def close_redis(client: Redis | RedisCluster) -> None:
    """Close a client of ``make_redis`` with its connections (``RedisCluster.aclose`` closes
    every node's and takes no argument); a cluster's nodes are remembered."""
    if isinstance(client, Redis):
        await client.aclose(close_connection_pool=True)
    else:
        _known_nodes.update((node.host, int(node.port)) for node in client.get_nodes())
        await client.aclose()


def make_pubsub_client(settings: Settings, data: Redis | None = None) -> Redis:
    """The connection of the status hub (app/kit/pubsub.py): no read timeout, since a
    subscription waits for messages; keepalive so a dead peer is noticed.

    On a cluster, a plain connection to one of the nodes the data client ``data`` knows,
    picked at random (the node at ``BFF_REDIS_URL`` before it knows any): a cluster passes
    every (unsharded) PUBLISH to every node, so one node hears all channels. The hub asks for
    a new connection when its node stays away, so it follows a failover."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 2,
        "socket_keepalive": True,
    }
    target = settings.data_redis
    if target.sentinels and not settings.redis_cluster:
        primary = _sentinel(target).master_for(
            target.sentinel_master, **options, **_database_and_credentials(target)
        )
        return cast(Redis, primary)
    if settings.redis_cluster and data is not None:
        nodes = cast(RedisCluster, data).get_nodes()
        if nodes:
            node = random.choice(nodes)
            url = urlsplit(target.url)
            client = Redis(
                host=node.host,
                port=int(node.port),
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                ssl=url.scheme == "rediss",
                **options,
            )
            return client
    single: Redis = Redis.from_url(target.url, **options)
    return single


def arq_redis_settings(settings: Settings) -> RedisSettings:
    """arq's connection, with redis-py's ``Retry``: a command that meets a refused or dropped
    connection, or a Redis still loading its data, is tried again with capped, jittered
    backoff for several seconds, so one stock arq ``Worker`` rides out a
    Redis restart under either launcher. What this cannot cover ends the Worker: a
    connection lost inside a WATCH (redis-py raises ``WatchError`` there rather than retry
    on a new connection), a longer outage, and every error under Sentinel (arq 0.28 passes
    no retry options to Sentinel connections); app/worker/run.py starts a fresh Worker then.

    The retries (``_retry_options``) are bounded, so that arq's own shutdown, which deletes
    its health key first, ends while Redis is away instead of waiting for it.

    The queue's Redis (``Settings.queue_redis``): the data's, or ``BFF_QUEUE_REDIS_URL``."""
    retry_options = _retry_options()
    target = settings.queue_redis
    if target.sentinels:
        credentials = _database_and_credentials(target)
        return RedisSettings(
            host=list(target.sentinels),
            sentinel=True,
            sentinel_master=target.sentinel_master,
            database=credentials.get("db", 0),
            username=credentials.get("username"),
            password=credentials.get("password"),
            **retry_options,
        )
    return dataclasses.replace(RedisSettings.from_dsn(target.url), **retry_options)
