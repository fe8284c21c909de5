"""A Redis Cluster of three primaries and three replicas per test module, and the service's
data client on it (``make_redis`` with ``BFF_REDIS_CLUSTER``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from app.kit import keyspace
from app.kit.redis import close_redis, make_redis
from app.kit.settings import Settings
from tests.conftest import make_token
from tests.support.cluster import LocalCluster, running_cluster
from tests.support.processes import ApiServer, ManagedProcess, RedisServer, python_module
from tests.webhooks.receiver import Receiver, running_receiver

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


# -- the service on the cluster (module-wide, like the cluster) -----------------------------
@pytest.fixture(scope="module")
def cluster_env(
    bff_env: dict[str, str], redis_cluster: LocalCluster, redis_server: RedisServer
) -> dict[str, str]:
    # arq's queue in a database of its own: the suite's single-Redis worker never takes its jobs.
    queue_url = redis_server.url.rsplit("/", 1)[0] + "/7"
    return {
        **bff_env,
        "BFF_REDIS_CLUSTER": "true",
        "BFF_REDIS_URL": redis_cluster.url,
        "BFF_QUEUE_REDIS_URL": queue_url,
    }


@pytest.fixture(scope="module")
def cluster_api(cluster_env: dict[str, str]) -> Iterator[ApiServer]:
    api = ApiServer("api-cluster", cluster_env).start()
    yield api
    api.close()


@pytest.fixture(scope="module")
def cluster_worker(cluster_env: dict[str, str]) -> Iterator[ManagedProcess]:
    worker = ManagedProcess("worker-cluster", python_module("app", "worker"), env=cluster_env).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
async def hooks() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture
async def capi(
    cluster_api: ApiServer, cluster_worker: ManagedProcess, partner: str
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    async with httpx.AsyncClient(base_url=cluster_api.url, headers=headers, timeout=30) as client:
        yield client
