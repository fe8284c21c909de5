"""Helpers of the webhook tests: register endpoints, read the delivery log, await conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
from redis.asyncio import Redis

from app.webhooks import keys as webhook_keys
from app.webhooks.events import PackageEventData, WebhookEventType, event_body
from app.webhooks.models import AttemptRecord, DeliveryRecord, delivery_ids
from app.webhooks.store import PendingMove, WebhookStore, pending_member

T = TypeVar("T")


async def register(
    api: httpx.AsyncClient, url: str, event_types: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """Register an endpoint; the answer carries its secret."""
    body = {"url": url, "event_types": event_types or ["package.done", "package.failed"], **fields}
    response = await api.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def eventually(
    probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, deadline_s: float = 20.0
) -> T:
    """Poll an observable condition (no event exists for it) until it holds or time is up."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        value = await probe()
        if until(value) or loop.time() > end:
            return value
        await asyncio.sleep(0.05)


async def deliveries(api: httpx.AsyncClient, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/webhooks/{endpoint_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled_delivery(
    api: httpx.AsyncClient, endpoint_id: str, delivery_id: str, **criteria: Any
) -> dict[str, Any]:
    """The delivery once it is no longer pending (or matches ``criteria``)."""

    async def probe() -> dict[str, Any]:
        found = [d for d in await deliveries(api, endpoint_id, limit=100) if d["id"] == delivery_id]
        return found[0] if found else {}

    def done(delivery: dict[str, Any]) -> bool:
        if not delivery:
            return False
        if criteria:
            return all(delivery.get(k) == v for k, v in criteria.items())
        return delivery["status"] != "pending"

    return await eventually(probe, done)


def package_event(partner: str, status: str, package_id: str = "4711") -> PackageEventData:
    """``data`` of a package event as the watch emits it."""
    return PackageEventData.model_validate(
        {
            "package_id": package_id,
            "partner_id": partner,
            "status": status,
            "title": "Munich Q3",
            "merge_id": None,
            "merged_from": [],
            "clusters": [{"tc": "rock", "customers": 120, "items": 300, "purchase": 9.5}],
            "results_url": f"http://127.0.0.1:8000/v1/packages/{package_id}",
        }
    )


def delivery_record(
    partner: str, endpoint_id: str, event_key: str, *, now: float, due_at: float
) -> DeliveryRecord:
    """A new delivery of a ``package.done`` event, as dispatch makes it."""
    delivery_id, msg_id = delivery_ids(endpoint_id, event_key)
    return DeliveryRecord(
        id=delivery_id,
        partner_id=partner,
        endpoint_id=endpoint_id,
        msg_id=msg_id,
        event_type="package.done",
        event_key=event_key,
        body=event_body(WebhookEventType.PACKAGE_DONE, package_event(partner, "DONE", package_id="1"), now),
        next_attempt_at=due_at,
        created_at=now,
        updated_at=now,
    )


async def stored_delivery(
    store: Redis, partner: str, endpoint_id: str, event_key: str, *, due_in_s: float
) -> tuple[str, str]:
    """A delivery written straight to Redis with no job queued (as after a crash), due in
    ``due_in_s``; a delivery not yet due is left alone by the worker's sweep.
    Returns (delivery id, webhook-id)."""
    now = time.time()
    record = delivery_record(partner, endpoint_id, event_key, now=now, due_at=now + due_in_s)
    assert await WebhookStore(store).create_delivery(record)
    return record.id, record.msg_id


def attempt_made(
    delivery: DeliveryRecord, number: int, now: float, *, retry_in_s: float | None
) -> tuple[DeliveryRecord, AttemptRecord]:
    """Attempt ``number`` of round 1 as ``advance_delivery`` takes it: failed with the next
    one due in ``retry_in_s``, or (None) succeeded."""
    outcome = "failed" if retry_in_s is not None else "succeeded"
    attempt = AttemptRecord(number=number, round=1, at=now, outcome=outcome, next_attempt_in_s=retry_in_s)
    update: dict[str, object] = {"next_attempt": number + 1, "updated_at": now}
    if retry_in_s is None:
        update.update(status="succeeded", next_attempt_at=None)
    else:
        update.update(next_attempt_at=now + retry_in_s)
    return delivery.model_copy(update=update), attempt


async def entry_due_at(db: Redis, delivery: DeliveryRecord) -> float | None:
    """The delivery's score in the pending set; None when it has no entry."""
    key = webhook_keys.webhook_pending(delivery.partner_id)
    return await db.zscore(key, pending_member(delivery.partner_id, delivery.id))


class Killed(Exception):
    """The process died here."""


class KilledBetweenCalls(WebhookStore):
    """A store whose process dies between the two calls of a write that spans the pending
    set and a delivery: the first call is made, the second never. ``mark_pending`` is the
    first call where it is used (create, redeliver), ``move_pending`` the second (an
    attempt, a postponement)."""

    async def mark_pending(
        self, partner_id: str, delivery_id: str, *, due_at: float, only_new: bool = False
    ) -> None:
        await super().mark_pending(partner_id, delivery_id, due_at=due_at, only_new=only_new)
        raise Killed

    async def move_pending(self, partner_id: str, moves: Sequence[PendingMove]) -> int:
        raise Killed
