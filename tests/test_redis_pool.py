"""The Redis pool the API and the worker use (``app.kit.redis.QuickBlockingPool``): a free
connection is checked out without the blocking pool's lock, and it still waits, in order,
when none is free."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from app.kit.redis import QuickBlockingPool, _open_and_drained, make_queue, make_redis
from app.kit.settings import Settings
from tests.support.processes import RedisServer


@pytest.fixture
async def one_connection(redis_server: RedisServer) -> AsyncIterator[Redis]:
    pool = QuickBlockingPool.from_url(redis_server.url, max_connections=1, timeout=5, decode_responses=True)
    client = Redis(connection_pool=pool)
    yield client
    await client.aclose()


async def _blpop(client: Redis, queue: str) -> Any:
    """Blocks on an empty list, holding a connection, until something is pushed."""
    return await cast(Awaitable[Any], client.blpop([queue], timeout=0))


async def _push(client: Redis, queue: str) -> None:
    await cast(Awaitable[int], client.rpush(queue, "go"))


async def _until(condition: object) -> None:
    """Let other tasks run until ``condition()`` holds (each turn is one pass of the loop)."""
    for _ in range(10_000):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_the_services_use_it(redis_server: RedisServer) -> None:
    settings = Settings(redis_url=redis_server.url)
    assert isinstance(make_redis(settings).connection_pool, QuickBlockingPool)
    assert isinstance(make_queue(settings).connection_pool, QuickBlockingPool)


async def test_commands_without_contention_share_one_connection(one_connection: Redis) -> None:
    key = f"test:pool:{uuid.uuid4().hex}"
    await one_connection.set(key, "v", ex=60)
    values = [await one_connection.get(key) for _ in range(20)]
    assert values == ["v"] * 20
    pool = one_connection.connection_pool
    assert len(pool._available_connections) == 1 and not pool._in_use_connections


async def test_waiters_are_served_in_order_when_the_connection_frees(
    one_connection: Redis, redis: Redis
) -> None:
    queue, key = f"test:pool:q:{uuid.uuid4().hex}", f"test:pool:{uuid.uuid4().hex}"
    await redis.set(key, "v", ex=60)
    pool = one_connection.connection_pool
    assert isinstance(pool, QuickBlockingPool)
    holder = asyncio.create_task(_blpop(one_connection, queue))  # holds the only connection
    await _until(lambda: len(pool._in_use_connections) == 1)
    finished: list[str] = []

    async def get(name: str) -> None:
        assert await one_connection.get(key) == "v"
        finished.append(name)

    first = asyncio.create_task(get("first"))
    await _until(lambda: pool._waiting == 1)
    second = asyncio.create_task(get("second"))
    await _until(lambda: pool._waiting == 2)
    await _push(redis, queue)
    assert await holder == (queue, "go")
    await asyncio.gather(first, second)
    assert finished == ["first", "second"]
    assert pool._waiting == 0 and not pool._in_use_connections


async def test_a_checkout_gives_up_after_the_pools_timeout(redis_server: RedisServer, redis: Redis) -> None:
    pool = QuickBlockingPool.from_url(redis_server.url, max_connections=1, timeout=0.2, decode_responses=True)
    client = Redis(connection_pool=pool)
    queue = f"test:pool:q:{uuid.uuid4().hex}"
    holder = asyncio.create_task(_blpop(client, queue))
    await _until(lambda: len(pool._in_use_connections) == 1)
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await client.get("anything")
    assert pool._waiting == 0
    await _push(redis, queue)
    await holder
    assert await client.ping()  # the pool is whole again
    await client.aclose()


async def test_a_connection_the_server_closed_is_replaced(one_connection: Redis, redis: Redis) -> None:
    first_id = await one_connection.client_id()
    assert await redis.client_kill_filter(_id=first_id) == 1
    assert await one_connection.ping()  # the checkout saw the closed socket and reconnected
    assert await one_connection.client_id() != first_id


async def test_a_connection_with_an_unread_reply_is_replaced(one_connection: Redis, redis: Redis) -> None:
    """A reply left unread on a connection (its user went away) must not answer the next
    command: the checkout sees it and connects again."""
    key = f"test:pool:{uuid.uuid4().hex}"
    await redis.set(key, "fresh", ex=60)
    pool = one_connection.connection_pool
    connection = await pool.get_connection()
    await connection.send_command("ECHO", "stale")
    await _until(lambda: not _open_and_drained(connection))  # the reply has arrived
    await pool.release(connection)
    assert not _open_and_drained(connection)
    assert await one_connection.get(key) == "fresh"
    assert pool._available_connections[0] is connection  # the same object, connected anew


async def test_an_idle_connection_is_taken_without_the_pools_check(one_connection: Redis) -> None:
    assert await one_connection.ping()
    (connection,) = one_connection.connection_pool._available_connections
    assert _open_and_drained(connection)
