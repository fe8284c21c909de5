"""Webhook endpoints, deliveries and attempts in Redis (keys in app/webhooks/keys.py).

Conditional writes are Lua scripts, so the API (PATCH, redeliver) and workers
(attempts, failure streaks) never overwrite each other's fields, and a deleted
endpoint is never resurrected by a late write.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class WebhookStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._update_if_exists = lua.script(redis, "webhooks/lua/update_if_exists.lua")
        self._record_failure = lua.script(redis, "webhooks/lua/record_failure.lua")
        self._create_delivery = lua.script(redis, "webhooks/lua/create_delivery.lua")
        self._advance_delivery = lua.script(redis, "webhooks/lua/advance_delivery.lua")
        self._restart_delivery = lua.script(redis, "webhooks/lua/restart_delivery.lua")
        self._postpone_attempt = lua.script(redis, "webhooks/lua/postpone_attempt.lua")
        self._take_slots = lua.script(redis, "webhooks/lua/take_slots.lua")

    # -- endpoints ---------------------------------------------------------------------------
    async def add_endpoint(self, endpoint: EndpointRecord, *, limit: int) -> bool:
        """Store a new endpoint unless the partner already has ``limit`` of them."""
        partner = endpoint.partner_id
        key, index = webhook_keys.webhook_endpoint(partner, endpoint.id), webhook_keys.webhook_index(partner)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=to_hash(endpoint))
            pipe.sadd(index, endpoint.id)
            pipe.scard(index)
            *_, count = await pipe.execute()
        if int(count) > limit:
            await self.delete_endpoint(partner, endpoint.id)
            return False
        return True

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
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(webhook_keys.webhook_endpoint(partner_id, endpoint_id))
            pipe.srem(webhook_keys.webhook_index(partner_id), endpoint_id)
            pipe.delete(webhook_keys.webhook_deliveries(partner_id, endpoint_id))
            deleted, *_ = await pipe.execute()
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
        until the window ends)."""
        key = webhook_keys.webhook_test_sends(partner_id, endpoint_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, webhook_keys.WEBHOOK_TEST_WINDOW_S, nx=True)
            pipe.ttl(key)
            sent, _, ttl = await pipe.execute()
        return int(sent), max(1, int(ttl))

    async def create_delivery(self, delivery: DeliveryRecord) -> bool:
        """SET NX semantics: False when this delivery (same endpoint and event) exists."""
        partner = delivery.partner_id
        fields = [item for pair in to_hash(delivery).items() for item in pair]
        created = await self._create_delivery(
            keys=[
                webhook_keys.webhook_delivery(partner, delivery.id),
                webhook_keys.webhook_deliveries(partner, delivery.endpoint_id),
                webhook_keys.WEBHOOK_PENDING,
            ],
            args=[
                DELIVERY_TTL_S,
                repr(delivery.created_at),
                repr(delivery.next_attempt_at or delivery.created_at),
                pending_member(partner, delivery.id),
                delivery.id,
                DELIVERIES_PER_ENDPOINT,
                *fields,
            ],
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
        only while the stored delivery is still pending at ``attempt.round``/``number``."""
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
        pending_score = repr(delivery.next_attempt_at) if delivery.status == "pending" else ""
        done = await self._advance_delivery(
            keys=[
                webhook_keys.webhook_delivery(partner, delivery.id),
                webhook_keys.webhook_delivery_attempts(partner, delivery.id),
                webhook_keys.WEBHOOK_PENDING,
            ],
            args=[
                expected_round,
                expected_attempt,
                DELIVERY_TTL_S,
                attempt.model_dump_json() if attempt else "",
                pending_member(partner, delivery.id),
                pending_score,
                ATTEMPTS_PER_DELIVERY,
                *[item for pair in values.items() for item in pair],
            ],
        )
        return bool(done)

    async def restart_delivery(self, partner_id: str, delivery_id: str, *, now: float) -> int | None:
        """Redelivery: a new round from attempt 1, due now. The new round, or None if gone."""
        round_ = await self._restart_delivery(
            keys=[webhook_keys.webhook_delivery(partner_id, delivery_id), webhook_keys.WEBHOOK_PENDING],
            args=[repr(now), pending_member(partner_id, delivery_id), DELIVERY_TTL_S],
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
        """For each (partner id, delivery id, round, attempt), in one round trip: move the
        delivery's due time to ``due_at`` if that attempt is still the one it waits for."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for partner, delivery_id, round_, attempt in attempts:
                await self._postpone_attempt(
                    keys=[webhook_keys.webhook_delivery(partner, delivery_id), webhook_keys.WEBHOOK_PENDING],
                    args=[round_, attempt, repr(due_at), pending_member(partner, delivery_id)],
                    client=pipe,
                )
            done = await pipe.execute()
        return [bool(moved) for moved in done]

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

    # -- the sweep ---------------------------------------------------------------------------
    async def due_deliveries(self, *, before: float, start: int, limit: int) -> list[tuple[str, str]]:
        """(partner id, delivery id) of pending deliveries due before ``before``, oldest first."""
        members = await self._redis.zrangebyscore(
            webhook_keys.WEBHOOK_PENDING, "-inf", repr(before), start=start, num=limit
        )
        return [parse_pending_member(member) for member in members]

    async def forget_pending(self, partner_id: str, delivery_id: str) -> None:
        await self._redis.zrem(webhook_keys.WEBHOOK_PENDING, pending_member(partner_id, delivery_id))
