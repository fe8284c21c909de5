"""arq functions of webhook delivery (registered by app/worker/settings.py).

Fair delivery: an attempt is sent only under one of its partner's
``BFF_WEBHOOK_PARTNER_CONCURRENCY`` delivery leases (Redis, shared by every worker). One
that gets none is deferred, with nothing logged: enqueued again a little later (a batch's
unstarted attempts as one job). So a partner whose endpoints hang holds that many job slots
and connections at most, and another partner's attempts start as soon as they are due.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from weakref import WeakKeyDictionary

from arq.connections import ArqRedis
from arq.worker import func
from redis.asyncio import Redis

from app.kit.jobs import JobContext
from app.webhooks import keys as webhook_keys
from app.webhooks.delivery import (
    MAX_SEND_S,
    NOT_STARTED,
    NotStarted,
    attempt_deliveries,
    attempt_delivery,
)
from app.webhooks.dispatch import (
    BATCH_GRACE_S,
    SEND_WEBHOOK,
    SEND_WEBHOOKS,
    NextAttempt,
    due_attempt,
    enqueue_attempt,
    enqueue_rest_of_batch,
)
from app.webhooks.store import WebhookStore
from app.webhooks.transport import WebhookClient

logger = logging.getLogger("app.webhooks")


class WebhooksContext(JobContext):
    webhook_http: WebhookClient  # partner endpoints only (SSRF-guarded), never the upstream


JOB_TIMEOUT_S = MAX_SEND_S + 5  # short: after a SIGKILL arq waits for the largest timeout + 10 s
SWEEP_BATCH = 500
FORGET_AFTER_S = 60.0  # an entry without a pending delivery, due this long, is left behind
# A batch starts sends for this long only: its last send (at most MAX_SEND_S) and the log
# of it end before the job timeout.
BATCH_SEND_WINDOW_S = JOB_TIMEOUT_S - MAX_SEND_S - 3
# Deferred attempts ask again after 1, 2, 4, ... up to 10 s (about when a hanging send's
# slot frees at the default timeout), ±50 %: a partner's many waiting attempts spread out
# instead of waking in bursts that queue ahead of other partners' jobs.
DEFER_FIRST_S = 1.0
DEFER_MAX_S = 10.0
DEFER_JITTER = 0.5

_stores: WeakKeyDictionary[Redis, WebhookStore] = WeakKeyDictionary()


def store_of(ctx: WebhooksContext) -> WebhookStore:
    """One store per worker (its Lua scripts registered once), made on first use."""
    store = _stores.get(ctx["db"])
    if store is None:
        store = _stores[ctx["db"]] = WebhookStore(ctx["db"])
    return store


def deferral_delay(deferrals: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds until an attempt put off ``deferrals`` times before asks again: a partner stuck
    for long costs a job run per waiting attempt every ``DEFER_MAX_S`` or so, not a busy loop."""
    doubled = DEFER_FIRST_S * 2.0 ** min(deferrals, 16)
    return min(doubled, DEFER_MAX_S) * (1 + DEFER_JITTER * (2 * rng() - 1))


@asynccontextmanager
async def partner_slots(store: WebhookStore, partner_id: str, wanted: int, limit: int) -> AsyncIterator[int]:
    """Up to ``wanted`` of the partner's ``limit`` delivery slots, for the block: how many."""
    tokens = [uuid.uuid4().hex for _ in range(wanted)]
    granted = await store.take_slots(partner_id, tokens, limit=limit, lease_s=webhook_keys.WEBHOOK_LEASE_S)
    try:
        yield len(granted)
    finally:  # on cancellation too (arq's job timeout, SIGTERM); a killed worker's leases lapse
        await store.release_slots(partner_id, granted)


async def postpone(
    store: WebhookStore, attempts: Sequence[NextAttempt], delay_s: float
) -> tuple[list[NextAttempt], list[NextAttempt]]:
    """Move the due time of deliveries waiting for ``attempts`` past ``delay_s``, so the sweep
    leaves them to the job that will retry them (unless that job is lost). Nothing is logged:
    each delivery waits for the same attempt, with the same webhook-id and body.

    Returns (the attempts postponed, those their delivery no longer waits for: a later
    attempt or round, or done). The latter send nothing, so they run without a slot."""
    moved = await store.postpone_attempts(
        [(a.partner_id, a.delivery_id, a.round, a.attempt) for a in attempts],
        due_at=time.time() + delay_s + BATCH_GRACE_S,
    )
    still_due = [attempt for attempt, due in zip(attempts, moved, strict=True) if due]
    return still_due, [attempt for attempt, due in zip(attempts, moved, strict=True) if not due]


async def send_webhook(
    ctx: WebhooksContext, partner_id: str, delivery_id: str, round_: int, attempt: int, deferrals: int = 0
) -> str:
    """One attempt of one delivery, once its partner has a slot free (until then it is
    deferred: enqueued again, as its next deferral); enqueues the next attempt when this one
    failed."""
    store, limit = store_of(ctx), ctx["settings"].webhook_partner_concurrency
    async with partner_slots(store, partner_id, 1, limit) as slots:
        if not slots:
            delay = deferral_delay(deferrals)
            this = NextAttempt(partner_id, delivery_id, round_, attempt, delay, deferrals + 1)
            later, _ = await postpone(store, [this], delay)
            if later:
                await enqueue_attempt(ctx["queue"], this)
                return f"deferred: {limit} deliveries of the partner in flight"
        # With a slot, or no longer due: then it sends nothing, so it needs none.
        next_attempt = await attempt_delivery(
            store,
            ctx["webhook_http"],
            ctx["settings"],
            partner_id=partner_id,
            delivery_id=delivery_id,
            round_=round_,
            attempt=attempt,
        )
    if next_attempt is None:
        return "done"
    await enqueue_attempt(ctx["queue"], next_attempt)
    return f"next attempt {next_attempt.attempt} in {next_attempt.delay_s:.1f} s"


async def send_webhooks(
    ctx: WebhooksContext, partner_id: str, attempts: list[tuple[str, int, int]], stalled: int = 0
) -> str:
    """The first attempts of many deliveries of one partner (read in two round trips for
    all), as many at once as the partner has slots free; each failed one enqueues its own
    next attempt. Those not started within ``BATCH_SEND_WINDOW_S`` go on as one batch job of
    their own: at once when this one started some (the partner's slots are moving), else
    after ``deferral_delay``. A delivery that fails here unexpectedly is left to the sweep,
    which re-enqueues it once it is due."""
    store, limit = store_of(ctx), ctx["settings"].webhook_partner_concurrency
    results: list[NextAttempt | BaseException | NotStarted | None] = [NOT_STARTED] * len(attempts)
    async with partner_slots(store, partner_id, min(len(attempts), limit), limit) as slots:
        if slots:
            results = await attempt_deliveries(
                store,
                ctx["webhook_http"],
                ctx["settings"],
                partner_id=partner_id,
                attempts=attempts,
                lanes=slots,
                start_by=time.monotonic() + BATCH_SEND_WINDOW_S,
            )
    made: list[tuple[str, NextAttempt | BaseException | None]] = []
    unstarted: list[NextAttempt] = []
    for (delivery_id, round_, attempt), result in zip(attempts, results, strict=True):
        if isinstance(result, NotStarted):
            unstarted.append(NextAttempt(partner_id, delivery_id, round_, attempt))
        else:
            made.append((delivery_id, result))
    stalled = 0 if len(unstarted) < len(attempts) else stalled + 1
    delay = deferral_delay(stalled - 1) if stalled else 0.0
    later, not_due = await postpone(store, unstarted, delay) if unstarted else ([], [])
    if later:
        await enqueue_rest_of_batch(ctx["queue"], partner_id, later, stalled=stalled, delay_s=delay)
    if not_due:  # they send nothing, so they need no slot
        done = await attempt_deliveries(
            store,
            ctx["webhook_http"],
            ctx["settings"],
            partner_id=partner_id,
            attempts=[(a.delivery_id, a.round, a.attempt) for a in not_due],
        )
        made += [
            (a.delivery_id, r) for a, r in zip(not_due, done, strict=True) if not isinstance(r, NotStarted)
        ]
    retries = 0
    for delivery_id, result in made:
        if isinstance(result, NextAttempt):
            await enqueue_attempt(ctx["queue"], result)
            retries += 1
        elif isinstance(result, Exception):
            logger.warning("webhook delivery %s: attempt not made: %r", delivery_id, result)
        elif isinstance(result, BaseException):
            raise result
    return f"{len(made)} sent, {retries} to retry, {len(later)} deferred"


async def reschedule_due_deliveries(store: WebhookStore, queue: ArqRedis, *, now: float) -> int:
    """Enqueue the due attempt of every pending delivery (a no-op where its job exists):
    recovers jobs lost to a crash between logging an attempt and enqueueing the next. Reads
    every key of the pending set in turn (one on a single Redis, shards on a cluster)."""
    count = 0
    for shard in webhook_keys.webhook_pending_shards():
        count += await _reschedule_shard(store, queue, shard, now=now)
    return count


async def _reschedule_shard(store: WebhookStore, queue: ArqRedis, shard: str, *, now: float) -> int:
    """An entry due before its delivery is moved to the delivery's time once its attempt is
    enqueued. An entry whose delivery is gone or no longer pending is forgotten once it has
    been due for ``FORGET_AFTER_S``: a create or a redelivery marks its entry just before it
    writes the delivery (``WebhookStore.create_delivery``), and a sweep in between must not
    forget it."""
    count, start = 0, 0
    while True:
        due = await store.due_deliveries(shard, before=now, start=start, limit=SWEEP_BATCH)
        for entry in due:
            delivery = await store.get_delivery(entry.partner_id, entry.delivery_id)
            if delivery is not None and delivery.status == "pending":
                await enqueue_attempt(queue, due_attempt(delivery, now))
                count += 1
                due_at = delivery.next_attempt_at
                if due_at is not None and due_at > entry.due_at and await store.move_entry(entry, due_at):
                    continue  # left early by a killed process: now due with its delivery
            elif entry.due_at <= now - FORGET_AFTER_S and await store.forget_pending(entry):
                continue  # it left the set
            start += 1  # entries kept so far
        if len(due) < SWEEP_BATCH:
            return count


WEBHOOK_FUNCTIONS: list[Any] = [
    # keep_result=0: a finished attempt's id may be enqueued again by the sweep (a no-op run).
    func(
        send_webhook,  # type: ignore[arg-type]  # arq types ctx as a plain dict
        name=SEND_WEBHOOK,
        timeout=JOB_TIMEOUT_S,
        keep_result=0,
        max_tries=5,
    ),
    func(
        send_webhooks,  # type: ignore[arg-type]  # arq types ctx as a plain dict
        name=SEND_WEBHOOKS,
        timeout=JOB_TIMEOUT_S,
        keep_result=0,
        max_tries=1,  # a lost batch is recovered by the sweep, delivery by delivery
    ),
]
