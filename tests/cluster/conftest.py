"""A Redis Cluster of three primaries and three replicas per test module, and the service's
data client on it (``make_redis`` with ``BFF_REDIS_CLUSTER``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from app.kit import keyspace, lua
from app.kit.redis import close_redis, make_redis
from app.kit.settings import Settings
from tests.conftest import make_token
from tests.support.cluster import LocalCluster, running_cluster
from tests.support.processes import ApiServer, ManagedProcess, RedisServer, python_module
from tests.webhooks.receiver import Receiver, running_receiver

# arq's queue is never a cluster; these tests enqueue nothing, so any Redis address will do.
QUEUE_URL = "redis://127.0.0.1:6379/0"


# -- every script the service loads runs on a cluster ---------------------------------------
APP = Path(__file__).resolve().parents[2] / "app"
QUEUE_SCRIPTS = {"worker/lua/release_orphans.lua"}  # arq's keys, on the queue's own Redis


def data_scripts() -> dict[str, str]:
    """SHA1 → path of every script the service runs on its data Redis: the paths its code
    passes to ``lua.script`` (or names in a constant)."""
    source = "\n".join(path.read_text() for path in APP.rglob("*.py"))
    paths = set(re.findall(r'lua\.script\(\s*[a-z_.]+,\s*"([^"]+\.lua)"', source))
    paths |= set(re.findall(r'= "([a-z_]+/lua/[a-z_]+\.lua)"', source))
    return {hashlib.sha1(lua.source(path).encode()).hexdigest(): path for path in paths - QUEUE_SCRIPTS}


RAN_ON_A_CLUSTER: set[str] = set()
"""Scripts found loaded on a test cluster's nodes when it stopped: a script reaches a node's
cache only by running there (redis-py loads it after a NOSCRIPT), so each one here ran on a
cluster, where redis-py refuses a script whose keys span slots and a node refuses CROSSSLOT."""


def _record_scripts(cluster: LocalCluster) -> None:
    shas = list(data_scripts())
    for node in cluster.alive():
        client = node.client()
        try:
            found: list[bool] = client.script_exists(*shas)  # type: ignore[assignment]  # sync client
        finally:
            client.close()
        RAN_ON_A_CLUSTER.update(sha for sha, exists in zip(shas, found, strict=True) if exists)


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[LocalCluster]:
    """Module-wide: a test that kills a node or moves slots leaves the cluster settled again
    (``kill_primary``, ``restart`` and ``move_slots`` wait for it)."""
    with running_cluster() as cluster:
        try:
            yield cluster
            _record_scripts(cluster)
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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """When every module here ran (the whole suite, or ``pytest tests/cluster``), every script
    the service runs on its data must have run on a cluster: a new script, or one that starts
    spanning partners, fails the run until a cluster test runs it."""
    here = Path(__file__).parent
    modules = {path.name for path in here.glob("test_*.py")}
    ran = {Path(str(item.fspath)).name for item in session.items if Path(str(item.fspath)).parent == here}
    if ran != modules or session.testsfailed or exitstatus != 0:
        return
    missing = sorted(path for sha, path in data_scripts().items() if sha not in RAN_ON_A_CLUSTER)
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "scripts never run on a test cluster (add a test under tests/cluster/): " + ", ".join(
            missing
        )
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
