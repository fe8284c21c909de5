"""arq functions of webhook delivery (registered by app/worker.py)."""

from __future__ import annotations

import logging
import time
from typing import Any
from weakref import WeakKeyDictionary

from arq.connections import ArqRedis
from arq.cron import CronJob, cron
from arq.worker import func
from redis.asyncio import Redis

from app.kit.jobs import JobContext
from app.webhooks.delivery import MAX_SEND_S, attempt_deliveries, attempt_delivery
from app.webhooks.dispatch import SEND_WEBHOOK, SEND_WEBHOOKS, NextAttempt, due_attempt, enqueue_attempt
from app.webhooks.store import WebhookStore
from app.webhooks.transport import WebhookClient

logger = logging.getLogger("app.webhooks")


class WebhooksContext(JobContext):
    webhook_http: WebhookClient  # partner endpoints only (SSRF-guarded), never the upstream


JOB_TIMEOUT_S = MAX_SEND_S + 5  # short: after a SIGKILL arq waits for the largest timeout + 10 s
SWEEP_BATCH = 500

_stores: WeakKeyDictionary[Redis, WebhookStore] = WeakKeyDictionary()


def store_of(ctx: WebhooksContext) -> WebhookStore:
    """One store per worker (its Lua scripts registered once), made on first use."""
    store = _stores.get(ctx["db"])
    if store is None:
        store = _stores[ctx["db"]] = WebhookStore(ctx["db"])
    return store


async def send_webhook(
    ctx: WebhooksContext, partner_id: str, delivery_id: str, round_: int, attempt: int
) -> str:
    """One attempt of one delivery; enqueues the next attempt when this one failed."""
    next_attempt = await attempt_delivery(
        store_of(ctx),
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


async def send_webhooks(ctx: WebhooksContext, partner_id: str, attempts: list[tuple[str, int, int]]) -> str:
    """The first attempts of many deliveries of one partner, sent concurrently (read in two
    round trips for all); each failed one enqueues its own next attempt. A delivery that
    fails here unexpectedly is left to the sweep, which re-enqueues it once it is due."""
    results = await attempt_deliveries(
        store_of(ctx), ctx["webhook_http"], ctx["settings"], partner_id=partner_id, attempts=attempts
    )
    retries = 0
    for (delivery_id, _, _), result in zip(attempts, results, strict=True):
        if isinstance(result, NextAttempt):
            await enqueue_attempt(ctx["queue"], result)
            retries += 1
        elif isinstance(result, Exception):
            logger.warning("webhook delivery %s: attempt not made: %r", delivery_id, result)
        elif isinstance(result, BaseException):
            raise result
    return f"{len(attempts)} sent, {retries} to retry"


async def reschedule_due_deliveries(store: WebhookStore, queue: ArqRedis, *, now: float) -> int:
    """Enqueue the due attempt of every pending delivery (a no-op where its job exists):
    recovers jobs lost to a crash between logging an attempt and enqueueing the next."""
    count, start = 0, 0
    while True:
        due = await store.due_deliveries(before=now, start=start, limit=SWEEP_BATCH)
        for partner_id, delivery_id in due:
            delivery = await store.get_delivery(partner_id, delivery_id)
            if delivery is None or delivery.status != "pending":
                await store.forget_pending(partner_id, delivery_id)
                continue
            await enqueue_attempt(queue, due_attempt(delivery, now))
            count += 1
        if len(due) < SWEEP_BATCH:
            return count
        start = count  # entries kept so far; the forgotten ones left the set


async def sweep_webhook_deliveries(ctx: WebhooksContext) -> int:
    """Cron (every minute and at start): re-enqueue pending deliveries whose job was lost."""
    count = await reschedule_due_deliveries(store_of(ctx), ctx["queue"], now=time.time())
    if count:
        logger.info("webhook sweep: %d pending deliveries checked and queued", count)
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
WEBHOOK_CRON_JOBS: list[CronJob] = [
    cron(
        sweep_webhook_deliveries,  # type: ignore[arg-type]  # arq types ctx as a plain dict
        name="sweep_webhook_deliveries",
        run_at_startup=True,
        timeout=30,
        keep_result=0,
    ),
]
