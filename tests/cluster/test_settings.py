"""Which Redis holds what: ``BFF_REDIS_CLUSTER`` makes ``BFF_REDIS_URL`` a cluster node, and
arq's queue, which a cluster cannot hold, then needs ``BFF_QUEUE_REDIS_URL``; without a
cluster the queue stays where the data is unless told otherwise."""

from __future__ import annotations

import time
import uuid

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.kit.redis import arq_redis_settings, close_redis, make_queue, make_redis
from app.kit.settings import Settings, SettingsError, load_settings
from app.worker.metrics import WorkerMetrics
from tests.support.processes import refusal


@pytest.mark.parametrize("command", ["api", "worker"])
def test_a_cluster_without_a_queue_redis_refuses_to_start_naming_the_setting(command):
    line = refusal(command, env={"BFF_REDIS_CLUSTER": "true"})
    assert line.startswith("invalid configuration: BFF_QUEUE_REDIS_URL: "), line
    assert "BFF_REDIS_CLUSTER" in line


async def test_without_a_cluster_the_queue_is_the_data_redis():
    settings = Settings(redis_url="redis://127.0.0.1:6390/4")
    assert settings.queue_redis == settings.data_redis
    queue = make_queue(settings)
    try:
        assert queue.connection_pool.connection_kwargs["port"] == 6390
        assert queue.connection_pool.connection_kwargs["db"] == 4
    finally:
        await queue.aclose(close_connection_pool=True)
    arq = arq_redis_settings(settings)
    assert (arq.host, arq.port, arq.database) == ("127.0.0.1", 6390, 4)


async def test_a_queue_redis_of_its_own_serves_only_the_queue():
    settings = Settings(redis_url="redis://127.0.0.1:6390/4", queue_redis_url="redis://127.0.0.1:6391/2")
    data, queue = make_redis(settings), make_queue(settings)
    try:
        assert isinstance(data, Redis) and data.connection_pool.connection_kwargs["port"] == 6390
        assert queue.connection_pool.connection_kwargs["port"] == 6391
    finally:
        await close_redis(data)
        await queue.aclose(close_connection_pool=True)
    arq = arq_redis_settings(settings)
    assert (arq.port, arq.database) == (6391, 2)


def test_the_queue_of_a_cluster_may_be_reached_through_its_own_sentinels():
    settings = Settings(
        redis_cluster=True,
        redis_url="redis://127.0.0.1:7000",
        queue_redis_url="redis://:secret@ignored/3",
        queue_redis_sentinels=["10.0.0.1:26379", "10.0.0.2:26379"],
        queue_redis_sentinel_master="queue",
    )
    arq = arq_redis_settings(settings)
    assert arq.sentinel and arq.sentinel_master == "queue"
    assert arq.host == [("10.0.0.1", 26379), ("10.0.0.2", 26379)]
    assert (arq.database, arq.password) == (3, "secret")


CLUSTER = {"BFF_REDIS_CLUSTER": "true", "BFF_QUEUE_REDIS_URL": "redis://queue:6379/0"}


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({**CLUSTER, "BFF_REDIS_SENTINELS": "sentinel:26379"}, "BFF_REDIS_SENTINELS"),
        ({"BFF_QUEUE_REDIS_SENTINELS": "sentinel:26379"}, "BFF_QUEUE_REDIS_SENTINELS"),
        ({**CLUSTER, "BFF_REDIS_URL": "redis://node:7000/2"}, "BFF_REDIS_CLUSTER"),
        ({**CLUSTER, "BFF_REDIS_URL": "unix:///run/redis.sock"}, "BFF_REDIS_CLUSTER"),
        ({"BFF_QUEUE_REDIS_URL": "http://queue"}, "BFF_QUEUE_REDIS_URL"),
    ],
)
def test_what_a_cluster_or_a_queue_redis_cannot_take_is_refused_naming_it(monkeypatch, environment, named):
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"invalid configuration: {named}: ")


async def test_the_worker_counts_the_queue_in_the_queue_redis(redis_server):
    """With the queue on a Redis of its own, the worker's queue gauges read that Redis."""
    data = Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/13", decode_responses=True)
    queue = Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/14", decode_responses=True)
    name = f"test:queue:{uuid.uuid4().hex}"
    try:
        await queue.zadd(name, {"due-job": 1, "later-job": 2 * time.time() * 1000})
        await WorkerMetrics(data, queue, name, host="127.0.0.1", port=0).sample()
        assert REGISTRY.get_sample_value("bff_queue_jobs", {"state": "due"}) == 1
        assert REGISTRY.get_sample_value("bff_queue_jobs", {"state": "deferred"}) == 1
    finally:
        await queue.delete(name)
        await data.aclose()
        await queue.aclose()
