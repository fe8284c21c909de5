"""The one door through which package events become webhook deliveries.

An event's first attempts go out as one batch job (``send_webhooks``): one arq job for
all of its endpoints (and, from the poller, for every event of a poll), sent
concurrently, instead of one job per delivery. Their ``next_attempt_at`` is set
``BATCH_GRACE_S`` ahead, so the sweep (which re-enqueues due deliveries whose job was
lost) leaves them to the batch unless it never ran. Retries are one job per attempt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis

from app.webhooks.events import EventData, WebhookEventType, event_body
from app.webhooks.models import DeliveryRecord, EndpointRecord, delivery_ids
from app.webhooks.store import WebhookStore

SEND_WEBHOOK = "send_webhook"
SEND_WEBHOOKS = "send_webhooks"
BATCH_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class NextAttempt:
    """An attempt to enqueue: which round and number, and in how many seconds; ``deferrals``:
    how often it was put off already because its partner had no delivery slot free."""

    partner_id: str
    delivery_id: str
    round: int
    attempt: int
    delay_s: float = 0.0
    deferrals: int = 0


def attempt_job_id(delivery_id: str, round_: int, attempt: int, deferrals: int = 0) -> str:
    """One arq job id per attempt and deferral: enqueueing an attempt twice is a no-op, and
    neither the next attempt nor the next run of a deferred one collides with the running job
    (arq ignores a re-enqueued running id)."""
    job_id = f"webhook:{delivery_id}:{round_}:{attempt}"
    return f"{job_id}:deferred-{deferrals}" if deferrals else job_id


async def enqueue_attempt(queue: ArqRedis, attempt: NextAttempt) -> None:
    # ``deferrals`` only where there are some: every other job reads as before, to any worker.
    extra: dict[str, Any] = {"deferrals": attempt.deferrals} if attempt.deferrals else {}
    await queue.enqueue_job(
        SEND_WEBHOOK,
        attempt.partner_id,
        attempt.delivery_id,
        attempt.round,
        attempt.attempt,
        _job_id=attempt_job_id(attempt.delivery_id, attempt.round, attempt.attempt, attempt.deferrals),
        _defer_by=attempt.delay_s if attempt.delay_s > 0 else None,
        **extra,
    )


async def enqueue_batch(queue: ArqRedis, partner_id: str, attempts: list[NextAttempt], batch_id: str) -> None:
    """One job sending the first attempts of many deliveries of one partner now."""
    if attempts:
        await queue.enqueue_job(
            SEND_WEBHOOKS,
            partner_id,
            [(a.delivery_id, a.round, a.attempt) for a in attempts],
            _job_id=f"webhooks:{batch_id}",
        )


async def enqueue_rest_of_batch(
    queue: ArqRedis, partner_id: str, attempts: list[NextAttempt], *, stalled: int, delay_s: float
) -> None:
    """The attempts a batch did not start (its partner had no slot free), as one batch job of
    their own after ``delay_s``; ``stalled``: how many batches in a row started none of them."""
    extra: dict[str, Any] = {"stalled": stalled} if stalled else {}
    await queue.enqueue_job(
        SEND_WEBHOOKS,
        partner_id,
        [(a.delivery_id, a.round, a.attempt) for a in attempts],
        _job_id=rest_of_batch_job_id(attempts[0], stalled),
        _defer_by=delay_s if delay_s > 0 else None,
        **extra,
    )


def rest_of_batch_job_id(first: NextAttempt, stalled: int) -> str:
    """Unique along a chain of rests: a rest begins with the first attempt its batch did not
    start, so only rests that started nothing begin alike, and ``stalled`` counts those."""
    return f"webhooks:{first.delivery_id}:{first.round}:{first.attempt}:rest-{stalled}"


def due_attempt(delivery: DeliveryRecord, now: float) -> NextAttempt:
    """The attempt a pending delivery is waiting for."""
    delay = max(0.0, (delivery.next_attempt_at or now) - now)
    return NextAttempt(delivery.partner_id, delivery.id, delivery.round, delivery.next_attempt, delay)


async def deliver_to(
    store: WebhookStore,
    queue: ArqRedis,
    endpoint: EndpointRecord,
    *,
    event_type: str,
    event_key: str,
    body: str,
    now: float,
) -> tuple[DeliveryRecord, bool]:
    """Create the delivery of one event for one endpoint (once) and make sure it is queued.

    Returns the delivery and whether this call created it.
    """
    delivery, created = await _create(store, endpoint, event_type, event_key, body, now, due_at=now)
    if delivery is None:  # expired between the two calls: nothing left to deliver
        return _record(endpoint, event_type, event_key, body, now, due_at=now), False
    if delivery.status == "pending":  # new, or heals a crash between create and enqueue
        await enqueue_attempt(queue, due_attempt(delivery, now))
    return delivery, created


async def dispatch_event(
    webhooks: WebhookStore,
    queue: ArqRedis,
    *,
    partner_id: str,
    event_type: WebhookEventType,
    event_key: str,
    data: EventData | None = None,
    body: str | None = None,
    batch: list[NextAttempt] | None = None,
    endpoints: Sequence[EndpointRecord] | None = None,
) -> int:
    """Create one delivery per enabled endpoint of the partner subscribed to ``event_type``
    and queue their first attempts as one batch job; with ``batch``, add them to it instead
    (the caller enqueues it with ``enqueue_batch``). ``endpoints``: the partner's, when the
    caller read them already (one read for all the events of a poll). Idempotent per
    ``event_key``: calling twice delivers once. ``body``: the event as the activity log
    keeps it (``app.activity.emit``), else it is made of ``data``. Returns the number of
    deliveries created."""
    now = time.time()
    if body is None:
        assert data is not None, "an event needs its data or its body"
        body = event_body(event_type, data, now)
    created = 0
    attempts = [] if batch is None else batch
    if endpoints is None:
        endpoints = await webhooks.list_endpoints(partner_id)
    for endpoint in endpoints:
        if endpoint.enabled and event_type in endpoint.event_types:
            delivery, new = await _create(
                webhooks, endpoint, event_type, event_key, body, now, due_at=now + BATCH_GRACE_S
            )
            created += new
            if delivery is None or delivery.status != "pending":
                continue
            if delivery.round == 1 and delivery.next_attempt == 1:  # new, or never sent (a crash)
                attempts.append(NextAttempt(partner_id, delivery.id, 1, 1))
            else:  # already retrying: its own job, at its own time
                await enqueue_attempt(queue, due_attempt(delivery, now))
    if batch is None:
        await enqueue_batch(queue, partner_id, attempts, event_key)
    return created


def _record(
    endpoint: EndpointRecord, event_type: str, event_key: str, body: str, now: float, *, due_at: float
) -> DeliveryRecord:
    delivery_id, msg_id = delivery_ids(endpoint.id, event_key)
    return DeliveryRecord(
        id=delivery_id,
        partner_id=endpoint.partner_id,
        endpoint_id=endpoint.id,
        msg_id=msg_id,
        event_type=event_type,
        event_key=event_key,
        body=body,
        next_attempt_at=due_at,
        created_at=now,
        updated_at=now,
    )


async def _create(
    store: WebhookStore,
    endpoint: EndpointRecord,
    event_type: str,
    event_key: str,
    body: str,
    now: float,
    *,
    due_at: float,
) -> tuple[DeliveryRecord | None, bool]:
    """The delivery of one event for one endpoint, created once; (None, False) when it
    existed and has expired since."""
    delivery = _record(endpoint, event_type, event_key, body, now, due_at=due_at)
    if await store.create_delivery(delivery):
        return delivery, True
    return await store.get_delivery(endpoint.partner_id, delivery.id), False
