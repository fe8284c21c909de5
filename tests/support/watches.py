"""What the worker will poll, read through the watch registry the worker itself reads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from app.builds.poller import Poller
from app.builds.registry import WatchRegistry
from app.kit.redis import make_queue
from app.kit.settings import Settings
from app.upstream.factory import make_upstream


async def watched(redis: Redis, partner: str) -> list[str]:
    """The package ids of the partner's open watches, in stored order."""
    return [watch.package_id for watch in await WatchRegistry(redis).watches(partner)]


@contextlib.asynccontextmanager
async def poller_on(store: Redis, settings: Settings) -> AsyncIterator[Poller]:
    """The worker's poller, in this process, on ``store`` (``settings`` name the rest). For
    tests that run its steps one by one; a poll of a partner without watches calls no
    upstream."""
    queue, upstream = make_queue(settings), make_upstream(settings)
    try:
        yield Poller(store=store, queue=queue, upstream=upstream, settings=settings)
    finally:
        await upstream.aclose()
        await queue.aclose(close_connection_pool=True)
