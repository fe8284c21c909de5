"""Fixtures of the webhook tests: a receiver, and Redis + arq clients for ``dispatch_event``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import Redis

from tests.support.processes import RedisServer
from tests.webhooks.receiver import Receiver, running_receiver


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


@pytest.fixture(scope="session")
async def store(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """What the worker has in ctx["db"]: redis.asyncio with decoded responses."""
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def queue(redis_server: RedisServer) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    yield pool
    await pool.aclose()
