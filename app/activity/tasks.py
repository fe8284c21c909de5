"""The worker's one sweep (registered by app/worker/settings.py): what a killed process left."""

from __future__ import annotations

import logging
import time

from arq.cron import CronJob, cron

from app.activity.outbox import Outbox
from app.webhooks.tasks import WebhooksContext, reschedule_due_deliveries, store_of

logger = logging.getLogger("app.activity")


class ActivityContext(WebhooksContext):
    """Nothing of its own: the outbox is made of ``db`` and ``queue``, deliveries are the
    webhooks'."""


async def sweep_left_behind(ctx: ActivityContext) -> str:
    """Cron (every minute and at start), in order: the events a process recorded and did not
    publish (``Outbox.sweep``: logged, their deliveries created), then the pending deliveries
    whose job was lost (re-enqueued)."""
    outbox = Outbox.of(ctx["db"], ctx["queue"], ctx["settings"])
    partners = await outbox.sweep()
    deliveries = await reschedule_due_deliveries(store_of(ctx), ctx["queue"], now=time.time())
    if deliveries:
        logger.info("sweep: %d pending deliveries checked and queued", deliveries)
    return f"{partners} outboxes looked at, {deliveries} deliveries queued"


SWEEP_CRON_JOBS: list[CronJob] = [
    cron(
        sweep_left_behind,  # type: ignore[arg-type]  # arq types ctx as a plain dict
        name="sweep_left_behind",
        run_at_startup=True,
        timeout=30,
        keep_result=0,
    ),
]
