"""The activity feed and its named consumers. Knows no HTTP.

Pages are made of the log's stored bodies without parsing them: a page costs one script
call whose work is the page (or, filtered, at most ``SCAN_PER_PAGE`` entries), whatever the
log's length.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog, Filters, Page, page_of
from app.activity.positions import START, Position, decode_iterator, encode_iterator
from app.kit import lua
from app.kit.errors import Conflict, NotFound, ServiceUnavailable, ValidationProblem, field_error
from app.kit.links import EVENTS_LINK_S, LinkSigner
from app.kit.retry import REDIS_ERRORS

logger = logging.getLogger("app.activity")

MAX_CONSUMERS_PER_PARTNER = 50
ACTIVITY_STREAM_SEGMENTS = ("v1", "activity", "stream")

MAX_POLL_READS = 5  # polls of one consumer racing each other: each loss reads the next page


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page as the API answers it: JSON made of the stored bodies, never re-encoded."""

    page: Page
    iterator: str

    def json_bytes(self) -> bytes:
        items = ",".join(entry.item_json() for entry in self.page.entries)
        done = "true" if self.page.done else "false"
        return f'{{"data":[{items}],"iterator":"{self.iterator}","done":{done}}}'.encode()


class ActivityService:
    """One per process."""

    def __init__(self, log: ActivityLog, redis: Redis, links: LinkSigner) -> None:
        self._log = log
        self._redis = redis
        self._links = links
        self._poll = lua.script(redis, "activity/lua/poll_consumer.lua")
        self._move = lua.script(redis, "activity/lua/move_consumer.lua")
        self._seek = lua.script(redis, "activity/lua/seek_consumer.lua")

    async def feed(
        self, partner_id: str, *, iterator: str | None, after: str | None, limit: int, filters: Filters
    ) -> FeedPage:
        """The partner's events after ``iterator`` (or ``after`` a moment; neither: from the
        oldest kept), oldest first."""
        if iterator is not None and after is not None:
            raise ValidationProblem(
                "pass either iterator (to continue) or after (to start), not both",
                errors=[field_error(["query", "after"], "not with iterator")],
            )
        if iterator is not None:
            start = decode_iterator(iterator, partner_id)
        else:
            start = await self._start(partner_id, after)
        page = await self._log.read(partner_id, start, limit, filters)
        return FeedPage(page, encode_iterator(page.reached, partner_id))

    def stream_url(self, partner_id: str) -> str:
        """The signed link of the partner's live activity (an hour, like ``events_url``)."""
        return self._links.url(ACTIVITY_STREAM_SEGMENTS, partner_id, EVENTS_LINK_S)

    async def poll(self, partner_id: str, consumer: str, *, limit: int, filters: Filters) -> FeedPage:
        """The consumer's next page; its position moves past it (Svix's polling consumer):
        a consumer that reads in a loop sees every event once, without keeping a cursor.

        The page is read first and the consumer moved after, only if no other poll moved it
        meanwhile: a poll that fails before the move (Redis away: a 503 that says "retry")
        has moved nothing, and one whose move fails answers its page anyway (the consumer
        then reads it again: at least once, never lost)."""
        consumers = activity_keys.activity_consumers(partner_id)
        for _ in range(MAX_POLL_READS):
            raw = await self._poll(
                keys=[activity_keys.activity_log(partner_id), consumers],
                args=[
                    consumer,
                    limit,
                    filters.scan(limit),
                    self._log.page_max_bytes,
                    MAX_CONSUMERS_PER_PARTNER,
                    self._log.retention_ms,
                    *filters.args(),
                ],
            )
            if raw is None:
                raise _too_many()
            started, *rest = raw
            page = page_of(rest)
            if str(page.reached) == started:
                return FeedPage(page, encode_iterator(page.reached, partner_id))
            try:
                moved = await self._move(
                    keys=[consumers], args=[consumer, started, str(page.reached), self._log.retention_ms]
                )
            except REDIS_ERRORS as exc:
                logger.warning("consumer %s of %s not moved past its page: %r", consumer, partner_id, exc)
                moved = 1
            if int(moved):
                return FeedPage(page, encode_iterator(page.reached, partner_id))
        raise ServiceUnavailable("this consumer is being polled by several callers at once; retry")

    async def seek(self, partner_id: str, consumer: str, *, after: str | None, iterator: str | None) -> str:
        """Move the consumer: after an iterator, or after a moment (``now``); returns the
        iterator of its new position."""
        if iterator is not None:
            target = str(decode_iterator(iterator, partner_id, where="body"))
        elif after == "now":
            target = "now"
        else:
            target = str(_after_time(after or "", "body"))
        stored = await self._seek(
            keys=[activity_keys.activity_log(partner_id), activity_keys.activity_consumers(partner_id)],
            args=[consumer, target, MAX_CONSUMERS_PER_PARTNER, self._log.retention_ms],
        )
        if stored is None:
            raise _too_many()
        return encode_iterator(Position.parse(stored), partner_id)

    async def forget(self, partner_id: str, consumer: str) -> None:
        """Delete a named consumer (frees one of the partner's)."""
        if not await self._redis.hdel(activity_keys.activity_consumers(partner_id), consumer):  # type: ignore[misc]
            raise NotFound("consumer", consumer)

    async def _start(self, partner_id: str, after: str | None) -> Position:
        if after is None:
            return START
        if after == "now":
            return await self._log.last(partner_id)
        return _after_time(after, "query")


def _after_time(value: str, where: str) -> Position:
    """An RFC 3339 moment (the shape is checked by the parameter's pattern)."""
    try:
        moment = dt.datetime.fromisoformat(value.upper())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationProblem(
            "after must be `now` or an RFC 3339 date-time with its offset",
            errors=[field_error([where, "after"], "invalid date-time")],
        )
    return Position.before_time(moment)


def _too_many() -> Conflict:
    return Conflict(
        f"this partner already has {MAX_CONSUMERS_PER_PARTNER} named consumers; delete one "
        f"(DELETE /v1/activity/consumers/{{consumer}}) or reuse a name"
    )
