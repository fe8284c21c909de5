"""When each partner is next polled, and the lock that lets one worker poll it at a time.

Times are the Redis server's clock, so workers on different hosts agree.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.kit import lua
from app.kit.keyspace import shard_key, shard_keys
from app.kit.locks import TokenLocks
from app.kit.shards import ShardWalk
from app.observability.metrics import count_poll

# What one upstream call costs besides its bytes, in bytes of list: each call has a fixed
# cost on both sides (headers, authentication, routing, a connection's turn) that a byte count
# misses, so a few package GETs are not mistaken for cheaper than one list call
# (``bench/call_cost.py`` measures it; the figures are in bench/FINDINGS.md).
CALL_OVERHEAD_BYTES = 24 * 1024
BUSY_RETRY_S = 0.1  # a partner still being polled when due is looked at again this much later


@dataclass(frozen=True, slots=True)
class PollHistory:
    """What the partner's last polls learned: what its calls weighed (bytes), to choose the
    cheaper way to poll, and when the last complete poll began."""

    list_bytes: int | None  # the last list answer
    get_bytes: int | None  # a package GET of a build in flight (running average)
    complete_at_ms: int | None = None  # when the last poll that read every watch began

    def prefers_gets(self, watches: int, default_get_bytes: int) -> bool:
        """One GET per watch when that costs under half of one list call, counting each
        call's own cost (headers both ways, per-request work) as ``CALL_OVERHEAD_BYTES``
        besides its bytes; the list when its size is not known yet (so that it is learned).
        Half: near the break-even point the list wins, so the choice does not flap and a
        build's GETs stay few (a long history is hundreds of times larger)."""
        if self.list_bytes is None:
            return False
        per_get = (self.get_bytes or default_get_bytes) + CALL_OVERHEAD_BYTES
        return 2 * watches * per_get < self.list_bytes + CALL_OVERHEAD_BYTES


@dataclass(frozen=True, slots=True)
class DuePartners:
    partners: list[str]
    next_due_in_s: float | None  # None: nobody is scheduled


class PollSchedule:
    """Due times per partner (sorted sets, ``shard_key(WATCH_PARTNERS, partner)``) and
    per-partner poll locks (``SET PX``). On a single Redis the schedule is one key; on a
    cluster it is split into shards, each a slot of its own, and every script touches either
    one shard or one partner's keys: a claim is two steps (the turn, then the lock)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._due = lua.script(redis, "builds/lua/due_partners.lua")
        self._claim = lua.script(redis, "builds/lua/claim_poll.lua")
        self._take_lock = lua.script(redis, "builds/lua/take_poll_lock.lua")
        self._retry = lua.script(redis, "builds/lua/retry_poll.lua")
        self._record = lua.script(redis, "builds/lua/record_poll.lua")
        self._locks = TokenLocks(redis)
        self._shards = ShardWalk(build_keys.WATCH_PARTNERS)

    async def add(self, partner_id: str) -> None:
        """Schedule the partner, due now; one already scheduled keeps its due time."""
        await self._redis.zadd(shard_key(build_keys.WATCH_PARTNERS, partner_id), {partner_id: 0}, nx=True)

    async def remove(self, partner_id: str) -> None:
        await self._redis.zrem(shard_key(build_keys.WATCH_PARTNERS, partner_id), partner_id)

    async def partners(self) -> list[str]:
        """Every scheduled partner (the worker's metrics)."""
        keys = shard_keys(build_keys.WATCH_PARTNERS)
        shards = await asyncio.gather(*(self._redis.zrange(key, 0, -1) for key in keys))
        return [partner for shard in shards for partner in shard]

    async def count(self) -> int:
        keys = shard_keys(build_keys.WATCH_PARTNERS)
        return sum(await asyncio.gather(*(self._redis.zcard(key) for key in keys)))

    async def due(self, limit: int) -> DuePartners:
        """At most ``limit`` partners due now, taken fairly from the shards (``ShardWalk``),
        and how soon the earliest of the others is due (each shard measured by its own
        node's clock)."""
        next_due: list[float] = []

        async def read(key: str, offset: int, count: int) -> list[str]:
            partners, first, now = await self._due(keys=[key], args=[offset, count])
            if first:
                next_due.append(max(0.0, float(first) - float(now)))
            return list(partners)

        partners = await self._shards.take(limit, read)
        return DuePartners(partners, min(next_due) if next_due else None)

    async def claim(
        self, partner_id: str, holder: str, *, interval_s: float, lease_s: float, take_back: bool
    ) -> bool:
        """Whether ``holder`` (one per worker process) may poll the partner now. With
        ``take_back``, a lock ``holder`` already holds counts as free: the caller knows that
        none of its polls of the partner runs, so the lock outlived a release that Redis
        never answered (an outage, a failover), and waiting out its lease would only stall
        the partner.

        Two steps, the schedule's shard and the partner's lock being two slots on a cluster:
        the turn first (``take_turn``: the due time moves an interval on, so exactly one
        worker goes on), then the lock; a held lock brings the due time back to
        ``BUSY_RETRY_S`` from now, as one step did. A worker killed after taking the turn
        only delays the partner's poll by an interval (no lock was taken, and the next turn
        is due then); killed after taking the lock, its lease frees it, as for a worker
        killed mid-poll."""
        if not await self.take_turn(partner_id, interval_s):
            return False
        taken = await self._take_lock(
            keys=[build_keys.watch_poll_lock(partner_id)],
            args=[holder, int(lease_s * 1000), "1" if take_back else "0"],
        )
        if not taken:
            await self._retry(
                keys=[shard_key(build_keys.WATCH_PARTNERS, partner_id)],
                args=[partner_id, repr(min(interval_s, BUSY_RETRY_S))],
            )
        return bool(taken)

    async def take_turn(self, partner_id: str, interval_s: float) -> bool:
        """The first step of ``claim``: True when the partner was due (it now is again an
        interval from now)."""
        key = shard_key(build_keys.WATCH_PARTNERS, partner_id)
        return bool(await self._claim(keys=[key], args=[partner_id, repr(interval_s)]))

    async def release(self, partner_id: str, holder: str) -> None:
        await self._locks.release(build_keys.watch_poll_lock(partner_id), holder)

    async def record_poll(self, partner_id: str) -> PollHistory:
        """Counts status polls per partner (operations, and the cost tests); returns what
        the partner's calls weighed last time, and when its last complete poll began."""
        list_bytes, get_bytes, complete_at_ms = await self._record(
            keys=[build_keys.watch_poll_stats(partner_id)],
            args=[repr(time.time()), build_keys.WATCH_POLL_STATS_TTL_S],
        )
        count_poll()
        return PollHistory(
            int(list_bytes) if list_bytes else None,
            int(get_bytes) if get_bytes else None,
            int(complete_at_ms) if complete_at_ms else None,
        )

    async def record_outcome(
        self,
        partner_id: str,
        *,
        list_bytes: int | None = None,
        get_bytes: int | None = None,
        complete_at_ms: int | None = None,
        gets: int = 0,
    ) -> None:
        """What a poll learned, in one round trip: the size of its calls; (when it read every
        open watch) ``complete_at_ms``, the Redis clock when it began: the partner's stored
        statuses are that fresh; and ``gets``, the package GETs it polled with, counted in
        ``polled_by_get`` (so the GETs that are polls can be told from those that fetch a
        finished build's content)."""
        key = build_keys.watch_poll_stats(partner_id)
        fields = {"list_bytes": list_bytes, "get_bytes": get_bytes, "complete_at_ms": complete_at_ms}
        learned = {name: str(value) for name, value in fields.items() if value is not None}
        if not learned and not gets:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            if learned:
                pipe.hset(key, mapping=learned)
            if gets:
                pipe.hincrby(key, "polled_by_get", gets)
            await pipe.execute()
