"""Reading a cross-partner structure that is split into shard keys (``keyspace.shard_keys``):
one key on a single Redis, ``SHARDS`` keys on a cluster, each a slot of its own."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.kit.keyspace import SHARDS, shard_keys

T = TypeVar("T")

Read = Callable[[str, int, int], Awaitable[Sequence[T]]]
"""Reads one shard: its key, how many items to skip, how many to take at most."""


class ShardWalk:
    """Takes up to ``limit`` items a pass from the shards of ``base``, fairly: first an equal
    share of each shard (one read per shard, all at once), then what is left of the budget
    from the shards that had more, in turn. Each pass starts at the next shard, and the items
    come back interleaved (the first of each shard, then the second of each...), so a caller
    that uses only the first few still serves every shard over a few passes: no shard waits
    behind another's backlog. On a single Redis, one key: one read of ``limit``."""

    def __init__(self, base: str) -> None:
        """A walker made for one pass (a cron job's) starts at a random shard, so that
        its first pick is fair too."""
        self._base = base
        self._start = random.randrange(SHARDS)

    async def take(self, limit: int, read: Read[T]) -> list[T]:
        keys = shard_keys(self._base)  # read at each pass: make_redis decides the spelling
        start = self._start % len(keys)
        self._start = start + 1
        order = keys[start:] + keys[:start]
        share = -(-limit // len(order))
        taken = [list(items) for items in await asyncio.gather(*(read(key, 0, share) for key in order))]
        left = limit - sum(len(items) for items in taken)
        for key, items in zip(order, taken, strict=True):
            if left <= 0:
                break
            if len(items) == share:  # this shard may hold more
                more = await read(key, share, left)
                items.extend(more)
                left -= len(more)
        rounds = max(len(items) for items in taken)
        interleaved = [items[index] for index in range(rounds) for items in taken if index < len(items)]
        return interleaved[:limit]
