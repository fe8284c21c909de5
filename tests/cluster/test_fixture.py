"""The cluster fixture (tests/support/cluster.py) is what the cluster tests take it for: six
nodes that answer through the service's data client, a primary that dies is replaced by its
replica, and slots that move are followed; the client rides out both without being rebuilt."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from app.kit.redis import make_pubsub_client
from tests.cluster.conftest import cluster_settings
from tests.support.cluster import LocalCluster


def _cluster(client: Redis) -> RedisCluster:
    assert isinstance(client, RedisCluster)
    return client


async def test_the_data_client_is_a_cluster_client_of_every_node(
    redis_cluster: LocalCluster, cluster_db: Redis
):
    key = f"test:cluster:{uuid.uuid4().hex}"
    await cluster_db.set(key, "value", ex=60)
    assert await cluster_db.get(key) == "value"
    primaries = redis_cluster.primaries()
    assert len(primaries) == 3 and all(len(redis_cluster.replicas_of(node)) == 1 for node in primaries)
    client = _cluster(cluster_db)
    assert {node.port for node in client.get_primaries()} == {node.client_port for node in primaries}
    owner = client.get_node_from_key(key)
    assert owner is not None and owner.port == redis_cluster.owner_of_key(key).client_port


async def test_a_killed_primary_is_replaced_by_its_replica_and_the_client_follows(
    redis_cluster: LocalCluster, cluster_db: Redis
):
    """The hardest case: the node of BFF_REDIS_URL, the one the client was given, dies."""
    primary = redis_cluster.by_port(
        int(cluster_settings(redis_cluster).redis_url.split(":")[2].split("/")[0])
    )
    key = redis_cluster.key_on(primary, f"test:cluster:{uuid.uuid4().hex}")
    await cluster_db.set(key, "kept", ex=600)
    replicas = {node.client_port for node in redis_cluster.replicas_of(primary)}
    await asyncio.to_thread(redis_cluster.wait_replicated)

    promoted = await asyncio.to_thread(redis_cluster.kill_primary, primary)

    assert promoted.client_port in replicas
    assert await cluster_db.get(key) == "kept"  # the same client: it read the new layout
    owner = _cluster(cluster_db).get_node_from_key(key)
    assert owner is not None and owner.port == promoted.client_port
    await cluster_db.set(key, "written after", ex=600)
    await asyncio.to_thread(redis_cluster.restart, primary)  # back as a replica of the promoted one
    assert primary.replication()["role"] == "slave"
    assert await cluster_db.get(key) == "written after"


async def test_moved_slots_are_followed_with_their_keys(redis_cluster: LocalCluster, cluster_db: Redis):
    prefix = f"test:cluster:{uuid.uuid4().hex}"
    values = {f"{prefix}:{index}": str(index) for index in range(2000)}
    client = _cluster(cluster_db)
    await client.mset_nonatomic(values)
    source, target = redis_cluster.primaries()[:2]

    moved = set(await asyncio.to_thread(redis_cluster.move_slots, 100, source, target))

    in_moved = [key for key in values if key_slot(key.encode()) in moved]
    assert in_moved  # fixed names: the same keys every run
    stale = client.get_node_from_key(in_moved[0])
    assert stale is not None and stale.port == source.client_port  # the client has not looked yet
    assert await client.mget_nonatomic(list(values)) == list(values.values())
    followed = client.get_node_from_key(in_moved[0])
    assert followed is not None and followed.port == target.client_port


async def test_a_publish_on_any_node_reaches_the_pubsub_client(
    redis_cluster: LocalCluster, cluster_db: Redis
):
    """The status hub's connection (one node) hears a PUBLISH made by a script on another."""
    channel = f"test:cluster:channel:{uuid.uuid4().hex}"
    settings = cluster_settings(redis_cluster)
    listener = make_pubsub_client(settings)
    pubsub = listener.pubsub()
    try:
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        elsewhere = redis_cluster.key_on(
            next(node for node in redis_cluster.primaries() if node.url != settings.redis_url), "test:cluster"
        )
        publish = cluster_db.register_script("return redis.call('PUBLISH', ARGV[1], ARGV[2])")
        await publish(keys=[elsewhere], args=[channel, "hello"])
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None and message["data"] == "hello"
    finally:
        await pubsub.aclose()
        await listener.aclose(close_connection_pool=True)
