"""The open-watch registry in Redis: written before a request returns, read by the worker."""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from app import redis_keys


class WatchRegistry:
    """Records which packages the worker must poll, per partner."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def open(self, partner_id: str, package_id: str, *, reason: str) -> None:
        """Idempotent: opening a watch twice keeps one watch."""
        watch = json.dumps({"package_id": package_id, "partner_id": partner_id,
                            "reason": reason, "opened_at": time.time()})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(redis_keys.watch_set(partner_id), package_id, watch)
            pipe.sadd(redis_keys.WATCH_PARTNERS, partner_id)
            await pipe.execute()
