"""arq functions of webhook delivery (registered by app/worker.py).

``app/worker.py`` wires: ``WEBHOOK_FUNCTIONS`` into ``functions``,
``WEBHOOK_CRON_JOBS`` into ``cron_jobs``, ``webhook_startup``/``webhook_shutdown``
into ``on_startup``/``on_shutdown``. The HTTP client is also created lazily, so a
job works even before the startup hook ran.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from arq.connections import ArqRedis
from arq.cron import CronJob, cron
from arq.worker import func

from app.webhooks.delivery import MAX_SEND_S, attempt_delivery, make_webhook_client
from app.webhooks.dispatch import SEND_WEBHOOK, due_attempt, enqueue_attempt
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app.webhooks")

WEBHOOK_HTTP = "webhook_http"
JOB_TIMEOUT_S = MAX_SEND_S + 5  # short: after a SIGKILL arq waits for the largest timeout + 10 s
SWEEP_BATCH = 500


def webhook_client(ctx: dict[str, Any]) -> httpx.AsyncClient:
    """The worker's one client for partner endpoints, in ``ctx["webhook_http"]``."""
    client: httpx.AsyncClient | None = ctx.get(WEBHOOK_HTTP)
    if client is None:
        client = ctx[WEBHOOK_HTTP] = make_webhook_client(ctx["settings"])
    return client


async def send_webhook(
    ctx: dict[str, Any], partner_id: str, delivery_id: str, round_: int, attempt: int
) -> str:
    """One attempt of one delivery; enqueues the next attempt when this one failed."""
    next_attempt = await attempt_delivery(
        WebhookStore(ctx["store"]),
        webhook_client(ctx),
        ctx["settings"],
        partner_id=partner_id,
        delivery_id=delivery_id,
        round_=round_,
        attempt=attempt,
    )
    if next_attempt is None:
        return "done"
    await enqueue_attempt(ctx["redis"], next_attempt)
    return f"next attempt {next_attempt.attempt} in {next_attempt.delay_s:.1f} s"


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


async def sweep_webhook_deliveries(ctx: dict[str, Any]) -> int:
    """Cron (every minute and at start): re-enqueue pending deliveries whose job was lost."""
    count = await reschedule_due_deliveries(WebhookStore(ctx["store"]), ctx["redis"], now=time.time())
    if count:
        logger.info("webhook sweep: %d pending deliveries checked and queued", count)
    return count


async def webhook_startup(ctx: dict[str, Any]) -> None:
    webhook_client(ctx)


async def webhook_shutdown(ctx: dict[str, Any]) -> None:
    client: httpx.AsyncClient | None = ctx.pop(WEBHOOK_HTTP, None)
    if client is not None:
        await client.aclose()


WEBHOOK_FUNCTIONS: list[Any] = [
    # keep_result=0: a finished attempt's id may be enqueued again by the sweep (a no-op run).
    func(send_webhook, name=SEND_WEBHOOK, timeout=JOB_TIMEOUT_S, keep_result=0, max_tries=5),
]
WEBHOOK_CRON_JOBS: list[CronJob] = [
    cron(
        sweep_webhook_deliveries,
        name="sweep_webhook_deliveries",
        run_at_startup=True,
        timeout=30,
        keep_result=0,
    ),
]
