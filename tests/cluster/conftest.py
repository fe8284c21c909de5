"""A Redis Cluster of three primaries and three replicas per test module, and the service's
data client on it (``make_redis`` with ``BFF_REDIS_CLUSTER``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from app.kit import keyspace
from app.kit.redis import close_redis, make_redis
from app.kit.settings import Settings
from tests.support.cluster import LocalCluster, running_cluster

# arq's queue is never a cluster; these tests enqueue nothing, so any Redis address will do.
QUEUE_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[LocalCluster]:
    """Module-wide: a test that kills a node or moves slots leaves the cluster settled again
    (``kill_primary``, ``restart`` and ``move_slots`` wait for it)."""
    with running_cluster() as cluster:
        try:
            yield cluster
        finally:
            keyspace.use_cluster_keys(False)  # make_redis spelled keys for the cluster


def cluster_settings(cluster: LocalCluster) -> Settings:
    return Settings(redis_cluster=True, redis_url=cluster.url, queue_redis_url=QUEUE_URL)


@pytest.fixture
async def cluster_db(redis_cluster: LocalCluster) -> AsyncIterator[Redis]:
    """The data client the API and the worker make for this cluster."""
    client = make_redis(cluster_settings(redis_cluster))
    yield client
    await close_redis(client)
