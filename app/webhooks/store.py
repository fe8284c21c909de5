"""Webhook endpoints, deliveries and attempts in Redis (keys in app/webhooks/keys.py).

Conditional writes are Lua scripts, so the API (PATCH, redeliver) and workers
(attempts, failure streaks) never overwrite each other's fields, and a deleted
endpoint is never resurrected by a late write. Every script touches one partner's keys
(one slot of a Redis Cluster).

The pending set (``webhook_pending``) lies on another slot than the deliveries it indexes,
so a delivery and its entry are written by two calls, ordered so that a process killed
between them leaves only what the sweep (``reschedule_due_deliveries``) repairs. The rule:
while a delivery is pending, its entry is in the set and due no later than the delivery.
What makes a delivery due (create, redeliver) marks the entry first; what makes it due later
or ends it (an attempt, a postponement) writes the delivery first and then moves the entry,
only while the entry is still due when the delivery was (``move_pending``), so a redelivery
in between keeps its own. An entry left behind is early or stale: the sweep enqueues the
attempt its delivery waits for (a no-op where the job exists) and moves the entry to the
delivery's time, or forgets an entry whose delivery is gone or ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from app.kit import lua
from app.webhooks import keys as webhook_keys
from app.webhooks.models import (
    AttemptRecord,
    DeliveryRecord,
    EndpointRecord,
    delivery_from_hash,
    endpoint_from_hash,
    to_hash,
)

DELIVERY_TTL_S = webhook_keys.WEBHOOK_DELIVERY_TTL_S
DELIVERIES_PER_ENDPOINT = 1000
ATTEMPTS_PER_DELIVERY = 100


def pending_member(partner_id: str, delivery_id: str) -> str:
    """Delivery ids hold no ':', so the first ':' separates them from the partner id."""
    return f"{delivery_id}:{partner_id}"


def parse_pending_member(member: str) -> tuple[str, str]:
    delivery_id, _, partner_id = member.partition(":")
    return partner_id, delivery_id


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry of the pending set: whose delivery, and when it is due (its score)."""

    partner_id: str
    delivery_id: str
    due_at: float


PendingMove = tuple[str, str, float | None]
"""(delivery id; the due time its caller saw, as Redis gave it: the delivery's before the
caller changed it, or the entry's as the sweep read it; the new due time, None: out of the
set)."""


class WebhookStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._update_if_exists = lua.script(redis, "webhooks/lua/update_if_exists.lua")
        self._record_failure = lua.script(redis, "webhooks/lua/record_failure.lua")
        self._add_endpoint = lua.script(redis, "webhooks/lua/add_endpoint.lua")
        self._delete_endpoint = lua.script(redis, "webhooks/lua/delete_endpoint.lua")
        self._create_delivery = lua.script(redis, "webhooks/lua/create_delivery.lua")
        self._advance_delivery = lua.script(redis, "webhooks/lua/advance_delivery.lua")
        self._restart_delivery = lua.script(redis, "webhooks/lua/restart_delivery.lua")
        self._postpone_attempts = lua.script(redis, "webhooks/lua/postpone_attempts.lua")
        self._move_pending = lua.script(redis, "webhooks/lua/move_pending.lua")
        self._take_slots = lua.script(redis, "webhooks/lua/take_slots.lua")

    # -- endpoints ---------------------------------------------------------------------------
    async def add_endpoint(self, endpoint: EndpointRecord, *, limit: int) -> bool:
        """Store a new endpoint unless the partner already has ``limit`` of them."""
        partner = endpoint.partner_id
        fields = [item for pair in to_hash(endpoint).items() for item in pair]
        added = await self._add_endpoint(
            keys=[webhook_keys.webhook_endpoint(partner, endpoint.id), webhook_keys.webhook_index(partner)],
            args=[endpoint.id, limit, *fields],
        )
        return bool(added)

    async def get_endpoint(self, partner_id: str, endpoint_id: str) -> EndpointRecord | None:
        fields = await self._redis.hgetall(  # type: ignore[misc]
            webhook_keys.webhook_endpoint(partner_id, endpoint_id)
        )
        return endpoint_from_hash(fields) if fields else None

    async def get_endpoints(self, partner_id: str, endpoint_ids: Sequence[str]) -> dict[str, EndpointRecord]:
        """The endpoints that exist among ``endpoint_ids``, by id, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for endpoint_id in endpoint_ids:
                pipe.hgetall(webhook_keys.webhook_endpoint(partner_id, endpoint_id))
            found = await pipe.execute()
        return {endpoint.id: endpoint for endpoint in map(endpoint_from_hash, filter(None, found))}

    async def list_endpoints(self, partner_id: str) -> list[EndpointRecord]:
        """Oldest first; ids whose hash is gone (a crash mid-delete) are skipped."""
        ids = await self._redis.smembers(webhook_keys.webhook_index(partner_id))  # type: ignore[misc]
        endpoints = await self.get_endpoints(partner_id, sorted(ids))
        return sorted(endpoints.values(), key=lambda e: (e.created_at, e.id))

    async def update_endpoint(
        self, partner_id: str, endpoint_id: str, values: dict[str, str], remove: tuple[str, ...] = ()
    ) -> bool:
        """Set and delete hash fields of an existing endpoint; False when it does not exist."""
        pairs = [item for pair in values.items() for item in pair]
        done = await self._update_if_exists(
            keys=[webhook_keys.webhook_endpoint(partner_id, endpoint_id)], args=[len(pairs), *pairs, *remove]
        )
        return bool(done)

    async def delete_endpoint(self, partner_id: str, endpoint_id: str) -> bool:
        deleted = await self._delete_endpoint(
            keys=[
                webhook_keys.webhook_endpoint(partner_id, endpoint_id),
                webhook_keys.webhook_index(partner_id),
                webhook_keys.webhook_deliveries(partner_id, endpoint_id),
            ],
            args=[endpoint_id],
        )
        return bool(deleted)

    async def record_endpoint_failure(
        self, partner_id: str, endpoint_id: str, *, now: float, disable_after_s: float
    ) -> bool:
        """Start (or extend) the failure streak; True when it just disabled the endpoint."""
        reason = f"every delivery failed for {disable_after_s / 86400:g} days"
        result = await self._record_failure(
            keys=[webhook_keys.webhook_endpoint(partner_id, endpoint_id)],
            args=[repr(now), repr(disable_after_s), reason],
        )
        return int(result) == 2

    async def record_endpoint_success(self, partner_id: str, endpoint_id: str) -> None:
        await self._redis.hdel(  # type: ignore[misc]
            webhook_keys.webhook_endpoint(partner_id, endpoint_id), "failing_since"
        )

    # -- deliveries --------------------------------------------------------------------------
    async def count_test_send(self, partner_id: str, endpoint_id: str) -> tuple[int, int]:
        """Counts one test send in the endpoint's current window: (sends so far, seconds
        until the window ends). Not a transaction, none is needed: each caller's TTL follows
        its own ``EXPIRE NX``, and a counter left without one (a connection lost after the
        INCR) gets it from the next call."""
        key = webhook_keys.webhook_test_sends(partner_id, endpoint_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, webhook_keys.WEBHOOK_TEST_WINDOW_S, nx=True)
            pipe.ttl(key)
            sent, _, ttl = await pipe.execute()
        return int(sent), max(1, int(ttl))

    async def create_delivery(self, delivery: DeliveryRecord) -> bool:
        """SET NX semantics: False when this delivery (same endpoint and event) exists.

        Its pending entry first (unless it has one: an existing delivery's entry stays as it
        is), then the delivery. Killed in between: an entry without a delivery, which the
        sweep forgets. The other order could leave a pending delivery the sweep never sees."""
        partner = delivery.partner_id
        due_at = delivery.next_attempt_at or delivery.created_at
        await self.mark_pending(partner, delivery.id, due_at=due_at, only_new=True)
        fields = [item for pair in to_hash(delivery).items() for item in pair]
        created = await self._create_delivery(
            keys=[
                webhook_keys.webhook_delivery(partner, delivery.id),
                webhook_keys.webhook_deliveries(partner, delivery.endpoint_id),
            ],
            args=[DELIVERY_TTL_S, repr(delivery.created_at), delivery.id, DELIVERIES_PER_ENDPOINT, *fields],
        )
        return bool(created)

    async def get_delivery(self, partner_id: str, delivery_id: str) -> DeliveryRecord | None:
        fields = await self._redis.hgetall(  # type: ignore[misc]
            webhook_keys.webhook_delivery(partner_id, delivery_id)
        )
        return delivery_from_hash(fields) if fields else None

    async def get_deliveries(
        self, partner_id: str, delivery_ids: Sequence[str]
    ) -> list[DeliveryRecord | None]:
        """``get_delivery`` for each id, in order, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id in delivery_ids:
                pipe.hgetall(webhook_keys.webhook_delivery(partner_id, delivery_id))
            found = await pipe.execute()
        return [delivery_from_hash(fields) if fields else None for fields in found]

    async def advance_delivery(self, delivery: DeliveryRecord, attempt: AttemptRecord | None) -> bool:
        """Compare-and-set: applies ``delivery``'s new status/next attempt (and logs ``attempt``)
        only while the stored delivery is still pending at ``attempt.round``/``number``.

        The delivery first, then its pending entry (moved to the next attempt's time, or out
        of the set). Killed in between: the entry is still due at the attempt just made,
        earlier than the delivery (the sweep enqueues the next attempt, which the killed
        process did not) or of a delivery that ended (the sweep forgets it). Marking the entry
        first could leave it due after the attempt the delivery waits for."""
        partner = delivery.partner_id
        expected_round = attempt.round if attempt else delivery.round
        expected_attempt = attempt.number if attempt else delivery.next_attempt
        values = {
            "status": delivery.status,
            "next_attempt": str(delivery.next_attempt),
            "next_attempt_at": repr(delivery.next_attempt_at or 0.0),
            "updated_at": repr(delivery.updated_at),
            "failure_reason": delivery.failure_reason or "",
        }
        was_due = await self._advance_delivery(
            keys=[
                webhook_keys.webhook_delivery(partner, delivery.id),
                webhook_keys.webhook_delivery_attempts(partner, delivery.id),
            ],
            args=[
                expected_round,
                expected_attempt,
                DELIVERY_TTL_S,
                attempt.model_dump_json() if attempt else "",
                ATTEMPTS_PER_DELIVERY,
                *[item for pair in values.items() for item in pair],
            ],
        )
        if was_due is None:
            return False
        due_at = delivery.next_attempt_at if delivery.status == "pending" else None
        await self.move_pending(partner, [(delivery.id, was_due, due_at)])
        return True

    async def restart_delivery(self, partner_id: str, delivery_id: str, *, now: float) -> int | None:
        """Redelivery: a new round from attempt 1, due now. The new round, or None if gone.

        Its pending entry first (due now), then the delivery. Killed in between: the entry of
        a delivery that ended (the sweep forgets it), or of one still pending, now due no
        later than it (the sweep enqueues its attempt, a no-op where the job exists)."""
        await self.mark_pending(partner_id, delivery_id, due_at=now)
        round_ = await self._restart_delivery(
            keys=[webhook_keys.webhook_delivery(partner_id, delivery_id)], args=[repr(now), DELIVERY_TTL_S]
        )
        return int(round_) or None

    async def page_deliveries(
        self,
        partner_id: str,
        endpoint_id: str,
        *,
        after: tuple[float, str] | None,
        limit: int,
    ) -> tuple[list[tuple[DeliveryRecord, list[AttemptRecord]]], tuple[float, str] | None]:
        """Newest first, ``limit`` at a time, starting after the (score, id) position ``after``."""
        index = webhook_keys.webhook_deliveries(partner_id, endpoint_id)
        entries = await self._index_page(index, after, limit + 1)
        has_more = len(entries) > limit
        entries = entries[:limit]
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id, _ in entries:
                pipe.hgetall(webhook_keys.webhook_delivery(partner_id, delivery_id))
                pipe.lrange(webhook_keys.webhook_delivery_attempts(partner_id, delivery_id), 0, -1)
            found = await pipe.execute()
        page = [
            (delivery_from_hash(fields), [AttemptRecord.model_validate_json(a) for a in attempts])
            for fields, attempts in zip(found[::2], found[1::2], strict=True)
            if fields
        ]
        last = entries[-1] if entries else None
        return page, ((last[1], last[0]) if has_more and last else None)

    async def deliveries_between(
        self, partner_id: str, endpoint_id: str, *, since: float, until: float, limit: int
    ) -> list[DeliveryRecord]:
        """The endpoint's deliveries created in ``[since, until)``, oldest first, at most ``limit``."""
        index = webhook_keys.webhook_deliveries(partner_id, endpoint_id)
        ids = await self._redis.zrangebyscore(index, repr(since), f"({until!r}", start=0, num=limit)
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id in ids:
                pipe.hgetall(webhook_keys.webhook_delivery(partner_id, delivery_id))
            found = await pipe.execute()
        return [delivery_from_hash(fields) for fields in found if fields]

    async def _index_page(
        self, index: str, after: tuple[float, str] | None, count: int
    ) -> list[tuple[str, float]]:
        if after is None:
            return list(await self._redis.zrevrange(index, 0, count - 1, withscores=True))
        score, last_id = after
        ties = int(await self._redis.zcount(index, score, score))
        raw = await self._redis.zrevrangebyscore(
            index, score, "-inf", start=0, num=count + ties, withscores=True
        )
        return [(member, s) for member, s in raw if s < score or member < last_id][:count]

    async def postpone_attempts(
        self, attempts: Sequence[tuple[str, str, int, int]], *, due_at: float
    ) -> list[bool]:
        """For each (partner id, delivery id, round, attempt), two round trips per partner:
        move the delivery's due time to ``due_at`` if that attempt is still the one it waits
        for, then its pending entry. Killed in between: the entries are still due earlier
        than their deliveries, and the sweep enqueues the postponed attempts (the killed
        process did not)."""
        by_partner: dict[str, list[int]] = {}
        for index, (partner, *_) in enumerate(attempts):
            by_partner.setdefault(partner, []).append(index)
        moved = [False] * len(attempts)
        for partner, indexes in by_partner.items():
            group = [attempts[index] for index in indexes]
            was_due = await self._postpone_attempts(
                keys=[webhook_keys.webhook_delivery(partner, delivery_id) for _, delivery_id, _, _ in group],
                args=[repr(due_at), *[part for _, _, round_, attempt in group for part in (round_, attempt)]],
            )
            moves: list[PendingMove] = []
            for index, (_, delivery_id, _, _), due in zip(indexes, group, was_due, strict=True):
                if due is not None:
                    moved[index] = True
                    moves.append((delivery_id, due, due_at))
            await self.move_pending(partner, moves)
        return moved

    # -- fair delivery -----------------------------------------------------------------------
    async def take_slots(
        self, partner_id: str, tokens: Sequence[str], *, limit: int, lease_s: float
    ) -> list[str]:
        """Leases for up to ``len(tokens)`` deliveries of the partner while fewer than ``limit``
        are live across all workers: the tokens granted (the first ones; maybe none)."""
        granted = await self._take_slots(
            keys=[webhook_keys.webhook_in_flight(partner_id)], args=[limit, int(lease_s * 1000), *tokens]
        )
        return list(tokens[: int(granted)])

    async def release_slots(self, partner_id: str, tokens: Sequence[str]) -> None:
        if tokens:
            await self._redis.zrem(webhook_keys.webhook_in_flight(partner_id), *tokens)

    # -- the pending set and its sweep ----------------------------------------------------------
    async def mark_pending(
        self, partner_id: str, delivery_id: str, *, due_at: float, only_new: bool = False
    ) -> None:
        """The delivery's entry in the pending set, due at ``due_at`` (``only_new``: unless
        it has one)."""
        await self._redis.zadd(
            webhook_keys.webhook_pending(partner_id),
            {pending_member(partner_id, delivery_id): due_at},
            nx=only_new,
        )

    async def move_pending(self, partner_id: str, moves: Sequence[PendingMove]) -> int:
        """Move (or remove) entries of the partner's deliveries, each only while it is still
        due when its caller saw it: an entry marked anew meanwhile stays. How many changed."""
        if not moves:
            return 0
        args = [
            part
            for delivery_id, seen, due_at in moves
            for part in (
                pending_member(partner_id, delivery_id),
                seen,
                "" if due_at is None else repr(due_at),
            )
        ]
        return int(await self._move_pending(keys=[webhook_keys.webhook_pending(partner_id)], args=args))

    async def due_deliveries(
        self, shard: str, *, before: float, start: int, limit: int
    ) -> list[PendingEntry]:
        """Entries of one key of the pending set (``webhook_pending_shards``) due before
        ``before``, oldest first."""
        members = await self._redis.zrangebyscore(
            shard, "-inf", repr(before), start=start, num=limit, withscores=True
        )
        return [PendingEntry(*parse_pending_member(member), due_at=score) for member, score in members]

    async def move_entry(self, entry: PendingEntry, due_at: float | None) -> bool:
        """Move the entry as read to ``due_at`` (None: out of the set) unless it was marked
        anew since: whether it moved."""
        return (
            await self.move_pending(entry.partner_id, [(entry.delivery_id, repr(entry.due_at), due_at)]) > 0
        )

    async def forget_pending(self, entry: PendingEntry) -> bool:
        return await self.move_entry(entry, None)
