"""The per-partner activity log: a Redis Stream of every event the service emits.

Why a stream: appends get ids from the Redis clock that only grow (``ms-seq``), so "the
entries after id X" is a cursor that never skips or repeats one, even while appending; a
range read from an id costs O(log N + page) whatever the log's length; trimming by age is
``XTRIM MINID``. Each append (one Lua call) also trims what is older than the retention,
keeps the key alive for the retention (an idle partner's log expires whole) and publishes
the entry on the partner's channel, so every open live stream of a process is fed by the
process's one subscription, with no read of its own. The message carries the previous
entry's id: a stream that did not send that one knows it missed something and re-reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.positions import Position
from app.kit import lua
from app.kit.settings import Settings

SCAN_PER_PAGE = 1_000  # entries one filtered page looks at, at most (bounds a script's run)
# How long an appended message id is remembered, so an event published twice (a retry, two
# processes, the sweep) is logged once: far longer than any of those take.
SEEN_TTL_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Entry:
    """One logged event: where it is, its id, and the webhook body as sent."""

    position: Position
    message_id: str
    body: str

    def item_json(self) -> str:
        """The feed's and the stream's item: ``{"id", "event"}``, ``event`` byte for byte the
        webhook's body."""
        return f'{{"id":"{self.message_id}","event":{self.body}}}'


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    reached: Position  # where the next page starts (the last entry looked at, matching or not)
    done: bool  # the end of the log was reached: nothing more for now


@dataclass(frozen=True, slots=True)
class Filters:
    event_types: tuple[str, ...] = ()
    package_id: str = ""

    @property
    def any(self) -> bool:
        return bool(self.event_types or self.package_id)

    def args(self) -> list[str]:
        return [self.package_id, *self.event_types]

    def scan(self, limit: int) -> int:
        """Entries a page may look at: the page itself, or ``SCAN_PER_PAGE`` when filtered."""
        return SCAN_PER_PAGE if self.any else limit


def page_of(raw: Sequence[str]) -> Page:
    reached, done, *rest = raw
    entries = [Entry(Position.parse(rest[i]), rest[i + 1], rest[i + 2]) for i in range(0, len(rest) - 2, 3)]
    return Page(entries, Position.parse(reached), str(done) == "1")


@dataclass(frozen=True, slots=True)
class Appended:
    position: Position
    body: str  # the body kept: the first one appended for this message id
    new: bool


class ActivityLog:
    """Appends to and reads the partners' logs; one per process (scripts registered once)."""

    def __init__(
        self, redis: Redis, *, retention_s: int, max_events: int, page_max_bytes: int = 1024 * 1024
    ) -> None:
        self._redis = redis
        self.retention_ms = retention_s * 1000
        self.max_events = max_events
        self.page_max_bytes = page_max_bytes
        self._append = lua.script(redis, "activity/lua/append_many.lua")
        self._read = lua.script(redis, "activity/lua/read.lua")

    @classmethod
    def of(cls, redis: Redis, settings: Settings) -> ActivityLog:
        return cls(
            redis,
            retention_s=settings.activity_retention_s,
            max_events=settings.activity_max_events,
            page_max_bytes=settings.activity_page_max_bytes,
        )

    async def append(
        self, partner_id: str, message_id: str, event_type: str, package_id: str | None, body: str
    ) -> Appended:
        """Append an event once per ``message_id`` (a retried publish finds the first body
        and appends nothing)."""
        [appended] = await self.append_many(partner_id, [(message_id, event_type, package_id or "", body)])
        return appended

    async def append_many(
        self, partner_id: str, events: Sequence[tuple[str, str, str, str]]
    ) -> list[Appended]:
        """``append`` for many (message id, type, package id, body), in one call, in order."""
        args: list[str | int] = [
            activity_keys.activity_channel(partner_id),
            self.retention_ms,
            self.max_events,
            min(SEEN_TTL_MS, self.retention_ms),
        ]
        keys = [activity_keys.activity_log(partner_id)]
        for event in events:
            keys.append(activity_keys.activity_seen(partner_id, event[0]))
            args += event
        raw = await self._append(keys=keys, args=args)
        return [
            Appended(Position.parse(entry_id), body, int(new) == 1)
            for entry_id, body, new in zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
        ]

    async def read(self, partner_id: str, after: Position, limit: int, filters: Filters = Filters()) -> Page:
        """At most ``limit`` matching entries after ``after``, oldest first, and at most
        ``page_max_bytes`` of them (one entry at least). Unfiltered, range reads of the page;
        filtered, at most ``SCAN_PER_PAGE`` entries looked at. A page cut short by either
        bound is not ``done``: the next one goes on where it stopped."""
        raw = await self._read(
            keys=[activity_keys.activity_log(partner_id)],
            args=[str(after), limit, filters.scan(limit), self.page_max_bytes, *filters.args()],
        )
        return page_of(raw)

    async def last(self, partner_id: str) -> Position:
        """The newest entry's position ("now"); the start when the log is empty."""
        newest = await self._redis.xrevrange(activity_keys.activity_log(partner_id), count=1)
        return Position.parse(newest[0][0]) if newest else Position(0, 0)
