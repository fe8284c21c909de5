"""Waiting out a dependency that is away: what a lost Redis raises, and jittered backoff."""

from __future__ import annotations

import asyncio
import random

from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

REDIS_UNAVAILABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)
"""Redis is away: a restart, a failover or a network cut (BusyLoadingError and Sentinel's
MasterNotFoundError are ConnectionErrors); on a cluster also a primary being replaced
(CLUSTERDOWN, MASTERDOWN), a slot moving (TRYAGAIN) or no node serving a slot
(``SlotNotCoveredError``). A request answers 503; a kept list is read from the upstream
instead. Any other error is a bug and surfaces (a 500, logged): among them redis-py's
``RedisClusterException`` for keys of one call in several slots."""
REDIS_ERRORS = (RedisError, RedisClusterException)
"""Any error of Redis, a cluster's included (what code that works on without Redis catches,
logging it)."""
REDIS_DOWN = (*REDIS_ERRORS, OSError, asyncio.TimeoutError)
"""What a background loop waits out rather than dies of: ``REDIS_UNAVAILABLE``, and also
any other error of Redis or of its socket (a WATCH broken by a lost connection, a reset
while arq reads), since there the next try is the cure and nobody waits for an answer."""
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
