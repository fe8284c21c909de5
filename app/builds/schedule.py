"""When each partner is next polled, and the lock that lets one worker poll it at a time.

Times are the Redis server's clock, so workers on different hosts agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.kit import lua
from app.kit.locks import TokenLocks
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
    """Due times per partner (sorted set) and per-partner poll locks (SET NX PX)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._due = lua.script(redis, "builds/lua/due_partners.lua")
        self._claim = lua.script(redis, "builds/lua/claim_poll.lua")
        self._locks = TokenLocks(redis)

    async def due(self, limit: int) -> DuePartners:
        partners, first, now = await self._due(keys=[build_keys.WATCH_PARTNERS], args=[limit])
        next_due = max(0.0, float(first) - float(now)) if first else None
        return DuePartners(list(partners), next_due)

    async def claim(
        self, partner_id: str, holder: str, *, interval_s: float, lease_s: float, take_back: bool
    ) -> bool:
        """Whether ``holder`` (one per worker process) may poll the partner now. With
        ``take_back``, a lock ``holder`` already holds counts as free: the caller knows that
        none of its polls of the partner runs, so the lock outlived a release that Redis
        never answered (an outage, a failover), and waiting out its lease would only stall
        the partner."""
        claimed = await self._claim(
            keys=[build_keys.WATCH_PARTNERS, build_keys.watch_poll_lock(partner_id)],
            args=[
                partner_id,
                holder,
                int(lease_s * 1000),
                repr(interval_s),
                repr(min(interval_s, BUSY_RETRY_S)),
                "1" if take_back else "0",
            ],
        )
        return bool(claimed)

    async def release(self, partner_id: str, holder: str) -> None:
        await self._locks.release(build_keys.watch_poll_lock(partner_id), holder)

    async def record_poll(self, partner_id: str) -> PollHistory:
        """Counts status polls per partner (operations, and the cost tests); returns what
        the partner's calls weighed last time, and when its last complete poll began."""
        key = build_keys.watch_poll_stats(partner_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "polls", 1)
            pipe.hset(key, "last_polled_at", repr(time.time()))
            pipe.expire(key, build_keys.WATCH_POLL_STATS_TTL_S)
            pipe.hmget(key, ["list_bytes", "get_bytes", "complete_at_ms"])
            *_, (list_bytes, get_bytes, complete_at_ms) = await pipe.execute()
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
