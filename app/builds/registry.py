"""The open-watch registry in Redis: written before a request returns, read by the worker.

One hash per partner (package id → watch JSON) is the persistent truth; the poll
schedule (``PollSchedule``, sorted sets of partners) says when each is next due for a
poll. A build generation on every watch (bumped by regenerate) keys the set-once
"event emitted" markers, so each build's terminal event is emitted once and a rebuild
emits again.

The schedule is an index of the partners with watches, kept in calls of its own (on a
cluster its shard and the partner's keys are two slots, and no script touches two). The
calls are ordered so that a process killed between them leaves at worst a partner
scheduled without watches, which the next poll of it takes off the schedule
(``Poller.poll_partner``): a partner joins the schedule before its watch is written, and
leaves it only after its last watch closed, checking again afterwards (``leave_schedule``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.builds.clock import RedisClock
from app.builds.schedule import PollSchedule
from app.kit import lua
from app.upstream.models import TERMINAL_STATUSES

logger = logging.getLogger("app.watches")

PARSED_WATCHES = 32_768  # at most, parsed open watches a process remembers (about 530 B each)


@dataclass(frozen=True, slots=True)
class Watch:
    """One open watch as stored; ``raw`` is the stored JSON, for compare-and-set."""

    package_id: str
    partner_id: str
    reason: str
    generation: str
    opened_at: float
    misses: int
    raw: str

    @classmethod
    def parse(cls, raw: str) -> Watch:
        doc = json.loads(raw)
        return cls(
            package_id=str(doc["package_id"]),
            partner_id=str(doc["partner_id"]),
            reason=str(doc.get("reason", "")),
            generation=str(doc.get("generation", "0")),
            opened_at=float(doc.get("opened_at", 0)),
            misses=int(doc.get("misses", 0)),
            raw=raw,
        )

    def with_misses(self, misses: int) -> str:
        """The JSON of this watch with another miss count."""
        doc = json.loads(self.raw)
        doc["misses"] = misses
        return json.dumps(doc, separators=(",", ":"))


class ParsedWatches:
    """The parsed form of each open watch, by partner and stored JSON: a poll reads every
    open watch of its partner each interval, and most are unchanged since the last, so each
    is parsed once. Safe because a ``Watch`` is immutable and the key is its whole stored form.

    Only open watches are kept: a partner's entries are replaced by each read of its watches,
    a watch this process closes or rewrites is forgotten at once, and a partner with none
    left is dropped. Memory follows the open watches, not every watch a long-running worker
    has seen; past ``cap`` (a backstop) everything is forgotten and parsed again."""

    def __init__(self, cap: int = PARSED_WATCHES) -> None:
        self._cap = cap
        self._by_partner: dict[str, dict[str, Watch]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def known(self, partner_id: str) -> dict[str, Watch]:
        return self._by_partner.get(partner_id, {})

    def replace(self, partner_id: str, current: dict[str, Watch]) -> None:
        self._size -= len(self._by_partner.pop(partner_id, {}))
        if not current:
            return
        if self._size + len(current) > self._cap:
            self._by_partner.clear()
            self._size = 0
        self._by_partner[partner_id] = current
        self._size += len(current)

    def forget(self, watch: Watch) -> None:
        known = self._by_partner.get(watch.partner_id)
        if known is not None and known.pop(watch.raw, None) is not None:
            self._size -= 1
            if not known:
                del self._by_partner[watch.partner_id]


class WatchRegistry:
    """Records which packages the worker must poll, per partner."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._clock = RedisClock(redis)
        self.schedule = PollSchedule(redis)
        self._open = lua.script(redis, "builds/lua/open_watch.lua")
        self._replace = lua.script(redis, "builds/lua/replace_watch.lua")
        self._close = lua.script(redis, "builds/lua/close_watch.lua")
        self._finish = lua.script(redis, "builds/lua/finish_watch.lua")
        self.parsed = ParsedWatches()

    async def ensure_reachable(self) -> None:
        """Fail (503) before an upstream action whose watch could not then be recorded:
        a create answered 503 *after* it happened would invite a duplicate retry."""
        await self._redis.ping()

    async def open(self, partner_id: str, package_id: str, *, reason: str) -> str:
        """Idempotent: opening a watch twice keeps one watch. ``reason="regenerate"``
        starts a new build generation and replaces any watch of the previous build.
        Returns the watch's generation."""
        mode = "new" if reason == "regenerate" else "keep"
        return await self._open_watch(partner_id, package_id, reason, mode)

    async def ensure(self, partner_id: str, package_id: str, status: str, observed_at_ms: int) -> bool:
        """Open a watch for a package seen elsewhere (``status`` read at ``observed_at_ms``,
        Redis clock, taken before the read). Returns whether a watch is open afterwards.

        Already emitted for this build: no watch. A build seen running although its
        generation already emitted, with the marker older than the observation, is a
        rebuild started outside the BFF: it gets a new generation.
        """
        if await self._redis.hexists(build_keys.watch_set(partner_id), package_id):  # type: ignore[misc]
            return True
        generation = await self._redis.get(build_keys.watch_generation(partner_id, package_id))
        generation = generation or "0"
        statuses = sorted(TERMINAL_STATUSES)
        stamps = await self._redis.mget(
            [build_keys.emitted_event(partner_id, package_id, status_, generation) for status_ in statuses]
        )
        marks = {s: int(v) for s, v in zip(statuses, stamps, strict=True) if v}
        if status in TERMINAL_STATUSES:
            if status in marks:
                return False
            await self._open_watch(partner_id, package_id, "watch", "keep")
            return True
        if marks and max(marks.values()) >= observed_at_ms:
            return False  # this very build finished (and was announced) while we looked
        await self._open_watch(partner_id, package_id, "watch", "new" if marks else "keep")
        return True

    async def _open_watch(self, partner_id: str, package_id: str, reason: str, mode: str) -> str:
        """The partner joins the schedule first, then the watch is written: killed between
        the two, the process leaves a partner scheduled with no watch, which its next poll
        drops. A partner that had no other watch is scheduled again after the write: a
        ``leave_schedule`` that saw no watch may have taken it off between the two calls
        (the first write after such a check always finds the partner without watches, so
        the partner is never left unscheduled with a watch open)."""
        await self.schedule.add(partner_id)
        keys = [build_keys.watch_set(partner_id), build_keys.watch_generation(partner_id, package_id)]
        args: list[str | int] = [
            package_id,
            partner_id,
            reason,
            repr(time.time()),
            mode,
            build_keys.WATCH_GENERATION_TTL_S * 1000,
        ]
        generation, alone = await self._open(keys=keys, args=args)
        if int(alone):
            await self.schedule.add(partner_id)
        return str(generation)

    async def clock_ms(self) -> int:
        """The Redis server's clock, shared by every process (no host clock skew); a
        reading is a few ms early at most, never late (``RedisClock``)."""
        return await self._clock.now_ms()

    async def watches(self, partner_id: str) -> list[Watch]:
        """The partner's open watches; an unreadable entry is dropped (and logged)."""
        entries = await self._redis.hgetall(build_keys.watch_set(partner_id))  # type: ignore[misc]
        known, current = self.parsed.known(partner_id), dict[str, Watch]()
        for package_id, raw in entries.items():
            try:
                current[raw] = known.get(raw) or Watch.parse(raw)
            except (ValueError, KeyError, TypeError):
                logger.error("dropping unreadable watch %s/%s: %r", partner_id, package_id, raw)
                await self._close_watch(partner_id, package_id, raw)
        self.parsed.replace(partner_id, current)
        return list(current.values())

    async def set_misses(self, watch: Watch, misses: int) -> bool:
        """Compare-and-set: a watch replaced meanwhile (regenerate) is left alone."""
        self.parsed.forget(watch)  # its stored form changes (or someone else's replaced it)
        replaced = await self._replace(
            keys=[build_keys.watch_set(watch.partner_id)],
            args=[watch.package_id, watch.raw, watch.with_misses(misses)],
        )
        return bool(replaced)

    async def close(self, watch: Watch) -> bool:
        """Compare-and-delete; the partner leaves the schedule with its last watch."""
        self.parsed.forget(watch)
        return await self._close_watch(watch.partner_id, watch.package_id, watch.raw)

    async def _close_watch(self, partner_id: str, package_id: str, raw: str) -> bool:
        """The watch first, then (none left) the schedule: killed between the two, the
        process leaves the partner scheduled with no watch, which its next poll drops."""
        closed, left = await self._close(keys=[build_keys.watch_set(partner_id)], args=[package_id, raw])
        if not int(left):
            await self.leave_schedule(partner_id)
        return bool(closed)

    async def forget_if_idle(self, partner_id: str) -> None:
        """Drop a partner without watches from the schedule."""
        if not await self._redis.hlen(build_keys.watch_set(partner_id)):  # type: ignore[misc]
            await self.leave_schedule(partner_id)

    async def leave_schedule(self, partner_id: str) -> None:
        """Take a partner whose watches were all seen closed off the schedule, then look
        again. An open racing with this (its first ``add`` before the removal, its write after
        the first look) keeps the partner scheduled either way: written before the second
        look, the look puts the partner back (due now); written after it, the write found the
        partner without watches, and the open's own second ``add`` puts it back. Killed
        between the removal and the second look, the process leaves the partner off the
        schedule, which is right unless a whole open ran between the first look and the
        removal: that watch then waits for the partner's next open (a race within those few
        milliseconds and a kill at once; the one state nothing repairs). Not atomic on a
        single Redis either: one code path for both."""
        await self.schedule.remove(partner_id)
        if await self._redis.hlen(build_keys.watch_set(partner_id)):  # type: ignore[misc]
            await self.schedule.add(partner_id)

    async def emitted(self, watch: Watch, status: str) -> bool:
        key = build_keys.emitted_event(watch.partner_id, watch.package_id, status, watch.generation)
        return bool(await self._redis.exists(key))

    async def finish(self, watch: Watch, status: str) -> bool:
        """Mark the build's ``status`` event emitted (set once) and close the watch
        (compare-and-delete), in one step; True when this call set the marker. Then, with
        the partner's last watch closed, the partner leaves the schedule: killed between the
        two, the process leaves it scheduled with no watch, which its next poll drops."""
        self.parsed.forget(watch)
        marked, left = await self._finish(
            keys=[
                build_keys.emitted_event(watch.partner_id, watch.package_id, status, watch.generation),
                build_keys.watch_set(watch.partner_id),
            ],
            args=[build_keys.EMITTED_EVENT_TTL_S * 1000, watch.package_id, watch.raw],
        )
        if not int(left):
            await self.leave_schedule(watch.partner_id)
        return bool(marked)
