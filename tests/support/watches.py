"""What the worker will poll, read through the watch registry the worker itself reads."""

from __future__ import annotations

from redis.asyncio import Redis

from app.builds.registry import WatchRegistry


async def watched(redis: Redis, partner: str) -> list[str]:
    """The package ids of the partner's open watches, in stored order."""
    return [watch.package_id for watch in await WatchRegistry(redis).watches(partner)]
