"""The Redis pool the API and the worker use: redis-py's stock ``BlockingConnectionPool``,
configured so that a caller waits for a free connection (up to the pool's timeout) instead
of failing, and a connection the server closed or left with an unread reply is replaced."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from app.kit.redis import make_queue, make_redis
from app.kit.settings import Settings
from tests.support.processes import RedisServer


@pytest.fixture
async def one_connection(redis_server: RedisServer) -> AsyncIterator[Redis]:
    pool = BlockingConnectionPool.from_url(
        redis_server.url, max_connections=1, timeout=5, decode_responses=True
    )
    client = Redis(connection_pool=pool)
    yield client
    await client.aclose()


async def _blpop(client: Redis, queue: str) -> Any:
    """Blocks on an empty list, holding a connection, until something is pushed."""
    return await cast(Awaitable[Any], client.blpop([queue], timeout=0))


async def _push(client: Redis, queue: str) -> None:
    await cast(Awaitable[int], client.rpush(queue, "go"))


async def _blocked_clients(redis: Redis) -> int:
    return int((await redis.info("clients"))["blocked_clients"])


async def _until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.01)


def test_the_services_use_it(redis_server: RedisServer) -> None:
    settings = Settings(redis_url=redis_server.url)
    for client in (make_redis(settings), make_queue(settings)):
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert pool.max_connections == settings.redis_max_connections


async def test_commands_without_contention_share_one_connection(one_connection: Redis) -> None:
    ids = {await one_connection.client_id() for _ in range(20)}
    assert len(ids) == 1


async def test_a_command_waits_for_the_busy_connection_instead_of_failing(
    one_connection: Redis, redis: Redis
) -> None:
    queue, key = f"test:pool:q:{uuid.uuid4().hex}", f"test:pool:{uuid.uuid4().hex}"
    await redis.set(key, "v", ex=60)
    before = await _blocked_clients(redis)
    holder = asyncio.create_task(_blpop(one_connection, queue))  # holds the only connection
    await _until(lambda: _more_blocked(redis, before))
    waiting = asyncio.ensure_future(one_connection.get(key))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # no connection free: it waits
    await _push(redis, queue)
    assert await holder == (queue, "go")
    assert await waiting == "v"


async def _more_blocked(redis: Redis, before: int) -> bool:
    return await _blocked_clients(redis) > before


async def test_a_checkout_gives_up_after_the_pools_timeout(redis_server: RedisServer, redis: Redis) -> None:
    pool = BlockingConnectionPool.from_url(
        redis_server.url, max_connections=1, timeout=0.2, decode_responses=True
    )
    client = Redis(connection_pool=pool)
    queue = f"test:pool:q:{uuid.uuid4().hex}"
    before = await _blocked_clients(redis)
    holder = asyncio.create_task(_blpop(client, queue))
    await _until(lambda: _more_blocked(redis, before))
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await client.get("anything")
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
    await _until(connection.can_read_destructive)  # the reply has arrived, unread
    await pool.release(connection)
    assert await one_connection.get(key) == "fresh"
