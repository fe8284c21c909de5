"""The Redis server's clock, read without a round trip each time.

Stamps of when a status was read must come from one clock shared by every process (hosts'
clocks disagree), and must never be later than the read itself (a late stamp could make an
old status look newer than a worker's later one). Asking Redis ``TIME`` before every read
costs a round trip per list request and per poll; instead the offset between Redis and the
local monotonic clock is measured every ``REFRESH_S`` and readings are taken from it.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

REFRESH_S = 5.0
# The two clocks' rates differ by far less than 1000 ppm: under 5 ms between measurements.
DRIFT_ALLOWANCE_MS = 5


class RedisClock:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._offset_ms: float | None = None  # Redis ms minus local monotonic ms, a lower bound
        self._measured_at = 0.0

    async def now_ms(self) -> int:
        """Redis time in ms, never later than Redis's own clock at the moment of the call,
        and earlier by at most the last measurement's round trip plus the drift allowance."""
        local = time.monotonic()
        if self._offset_ms is None or local - self._measured_at >= REFRESH_S:
            await self._measure()
            local = time.monotonic()
        assert self._offset_ms is not None
        return int(local * 1000 + self._offset_ms) - DRIFT_ALLOWANCE_MS

    async def _measure(self) -> None:
        """Redis answered ``TIME`` at some local instant before ``after``: taking ``after``
        as that instant gives an offset that can only be too small, never too large."""
        seconds, micros = await self._redis.time()
        after = time.monotonic()
        self._offset_ms = int(seconds) * 1000 + int(micros) / 1000 - after * 1000
        self._measured_at = after
