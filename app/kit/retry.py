"""Waiting out a dependency that is away: what a lost Redis raises, and jittered backoff."""

from __future__ import annotations

import asyncio
import random

from redis.exceptions import RedisError

# What an unreachable, restarting or failing-over Redis raises (connection refused or
# reset, timeouts, LOADING, READONLY, a WATCH broken by a lost connection).
REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)
BACKOFF_FIRST_S = 0.25
BACKOFF_CAP_S = 3.0


class Backoff:
    """Doubling delays with full jitter, capped; ``reset`` after a success."""

    def __init__(self, first_s: float = BACKOFF_FIRST_S, cap_s: float = BACKOFF_CAP_S) -> None:
        self._first_s = first_s
        self._cap_s = cap_s
        self._failures = 0

    def next_delay(self) -> float:
        ceiling = min(self._cap_s, self._first_s * 2**self._failures)
        self._failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._failures = 0
