"""The one way every event goes out: recorded as data, then published.

A ``package.status`` change (decided by the status scripts, which record it in the same call),
a terminal ``package.*`` event and an ``export.*`` event are all recorded the same way: an
entry in the partner's outbox saying what happened (type, key, package, Redis time, the
event's data as JSON). ``Outbox.publish`` then renders each to its body in Python from the
event's model (``app.webhooks.events``, the models the OpenAPI document shows), appends it to
the activity log once per message id, creates its deliveries (once per endpoint and event key)
and deletes it from the outbox. Every step is idempotent, so an entry published twice (two
processes, or the sweep after a crash) is logged and delivered once.

Order: a publisher takes the outbox from its oldest entry, so an event is never logged
before one recorded ahead of it. A process killed between recording and publishing leaves
the entries; the partner was marked in ``OUTBOX_PARTNERS`` before recording, and the
worker's sweep publishes what has waited longer than ``SWEEP_GRACE_MS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from arq.connections import ArqRedis
from pydantic import BaseModel
from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog
from app.kit import lua
from app.kit.keyspace import shard_key
from app.kit.settings import Settings
from app.kit.shards import ShardWalk
from app.webhooks.dispatch import NextAttempt, dispatch_event
from app.webhooks.events import WebhookEventType, recorded_event_body
from app.webhooks.models import EndpointRecord, message_id
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app.activity")

PUBLISH_BATCH = 200  # entries rendered, appended and dispatched together (bounds a script's run)
PUBLISH_BATCHES = 50  # per call: a flooded outbox is left to the next publisher or the sweep
SWEEP_GRACE_MS = 30_000  # the process that recorded an event publishes it within this, or died
SWEEP_PARTNERS = 200  # partners one sweep looks at


@dataclass(frozen=True, slots=True)
class Recorded:
    """One outbox entry: what happened, not yet rendered."""

    entry_id: str
    event_type: WebhookEventType
    event_key: str
    package_id: str
    at_ms: int
    data: str  # the event's data as JSON

    @classmethod
    def parse(cls, entry_id: str, fields: dict[str, str]) -> Recorded:
        return cls(
            entry_id,
            WebhookEventType(fields["type"]),
            fields["key"],
            fields["pkg"],
            int(fields["at"]),
            fields["data"],
        )


def _render(
    partner_id: str, raw: Sequence[tuple[str, dict[str, str]]]
) -> tuple[list[tuple[Recorded, str]], list[str]]:
    """Each entry with its body; the ids of those that cannot be read or rendered (written by
    another version, or a bug), which are logged and dropped: one must not hold back every
    later event of the partner."""
    rendered: list[tuple[Recorded, str]] = []
    unreadable: list[str] = []
    for entry_id, fields in raw:
        try:
            event = Recorded.parse(str(entry_id), fields)
            rendered.append((event, recorded_event_body(event.event_type, event.data, event.at_ms)))
        except (KeyError, ValueError) as exc:  # ValidationError and JSONDecodeError are ValueErrors
            logger.error("outbox entry %s of %s dropped, unreadable: %r", entry_id, partner_id, exc)
            unreadable.append(str(entry_id))
    return rendered, unreadable


class Outbox:
    """Records and publishes a partner's events; one per process (scripts registered once)."""

    def __init__(self, redis: Redis, log: ActivityLog, webhooks: WebhookStore, queue: ArqRedis) -> None:
        self._redis = redis
        self.log = log
        self._webhooks = webhooks
        self._queue = queue
        self._record = lua.script(redis, "activity/lua/record.lua")
        self._forget = lua.script(redis, "activity/lua/forget_partner.lua")
        self._turns: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._sweep_shards = ShardWalk(activity_keys.OUTBOX_PARTNERS)

    @classmethod
    def of(cls, redis: Redis, queue: ArqRedis, settings: Settings) -> Outbox:
        return cls(redis, ActivityLog.of(redis, settings), WebhookStore(redis), queue)

    @property
    def ttl_ms(self) -> int:
        """An entry older than the log's retention would be trimmed on arrival: nothing to keep."""
        return self.log.retention_ms

    async def mark(self, partner_id: str) -> None:
        """Before recording: the sweep will look at this partner's outbox."""
        seconds, micros = await self._redis.time()
        await self._redis.zadd(
            shard_key(activity_keys.OUTBOX_PARTNERS, partner_id),
            {partner_id: int(seconds) * 1000 + int(micros) // 1000},
        )

    async def emit(
        self,
        partner_id: str,
        event_type: WebhookEventType,
        event_key: str,
        package_id: str | None,
        data: BaseModel,
        *,
        batch: list[NextAttempt] | None = None,
        endpoints: Sequence[EndpointRecord] | None = None,
    ) -> int:
        """Record the event, then publish the partner's outbox up to it. Idempotent per
        ``event_key``: emitted twice (a retry after a crash), it is logged and delivered
        once, with the body published first. ``batch``/``endpoints``: as ``dispatch_event``'s.
        Returns the number of deliveries created."""
        await self.mark(partner_id)
        entry_id = await self._record(
            keys=[activity_keys.outbox(partner_id)],
            args=[event_type.value, event_key, package_id or "", data.model_dump_json(), self.ttl_ms],
        )
        return await self.publish(partner_id, until=str(entry_id), batch=batch, endpoints=endpoints)

    async def publish(
        self,
        partner_id: str,
        *,
        until: str = "+",
        batch: list[NextAttempt] | None = None,
        endpoints: Sequence[EndpointRecord] | None = None,
    ) -> int:
        """Log and hand to the webhooks the partner's recorded events, oldest first, up to
        entry ``until``; returns the number of deliveries created."""
        created = 0
        async with self._turn(partner_id):
            for _ in range(PUBLISH_BATCHES):
                raw = await self._redis.xrange(
                    activity_keys.outbox(partner_id), "-", until, count=PUBLISH_BATCH
                )
                if not raw:
                    break
                rendered, unreadable = _render(partner_id, raw)
                if endpoints is None:
                    endpoints = await self._webhooks.list_endpoints(partner_id)
                created += await self._publish(partner_id, rendered, unreadable, batch, endpoints)
                if len(raw) < PUBLISH_BATCH:
                    break
        return created

    @contextlib.asynccontextmanager
    async def _turn(self, partner_id: str) -> AsyncIterator[None]:
        """One publisher per partner at a time in this process: the events of one poll are
        emitted concurrently, and each would otherwise publish the others' too (and add their
        first attempts to the poll's batch twice)."""
        lock, users = self._turns.setdefault(partner_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._turns[partner_id]

    async def _publish(
        self,
        partner_id: str,
        rendered: Sequence[tuple[Recorded, str]],
        unreadable: Sequence[str],
        batch: list[NextAttempt] | None,
        endpoints: Sequence[EndpointRecord],
    ) -> int:
        appended = (
            await self.log.append_many(
                partner_id,
                [
                    (message_id(event.event_key), event.event_type.value, event.package_id, body)
                    for event, body in rendered
                ],
            )
            if rendered
            else []
        )
        created = 0
        for (event, _), kept in zip(rendered, appended, strict=True):
            if any(e.enabled and event.event_type in e.event_types for e in endpoints):
                created += await dispatch_event(
                    self._webhooks,
                    self._queue,
                    partner_id=partner_id,
                    event_type=event.event_type,
                    event_key=event.event_key,
                    body=kept.body,
                    batch=batch,
                    endpoints=endpoints,
                )
        done = [event.entry_id for event, _ in rendered] + list(unreadable)
        await self._redis.xdel(activity_keys.outbox(partner_id), *done)
        return created

    async def sweep(self, *, grace_ms: int = SWEEP_GRACE_MS) -> int:
        """Publish the outboxes whose last record is older than ``grace_ms`` (their process
        died before publishing, or published already); forget the partners whose outbox is
        then empty. At most ``SWEEP_PARTNERS``, taken fairly from the shards of
        ``OUTBOX_PARTNERS`` (``ShardWalk``). Returns how many partners were looked at."""
        seconds, micros = await self._redis.time()
        before = int(seconds) * 1000 + int(micros) // 1000 - grace_ms

        async def read(key: str, offset: int, count: int) -> list[tuple[str, float]]:
            return await self._redis.zrangebyscore(  # type: ignore[no-any-return]
                key, "-inf", before, start=offset, num=count, withscores=True
            )

        marked = await self._sweep_shards.take(SWEEP_PARTNERS, read)
        for partner_id, marked_at in marked:
            try:
                published = await self.publish(partner_id)
                if published:
                    logger.info(
                        "outbox sweep: %d deliveries of %s's events left behind", published, partner_id
                    )
                if not await self._redis.xlen(activity_keys.outbox(partner_id)):
                    # Only if nobody marked it since: a record under way keeps its mark.
                    await self._forget(
                        keys=[shard_key(activity_keys.OUTBOX_PARTNERS, partner_id)],
                        args=[partner_id, int(marked_at)],
                    )
            except Exception as exc:
                logger.warning("outbox of %s left to the next sweep: %r", partner_id, exc)
        return len(marked)
