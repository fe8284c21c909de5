"""arq functions of the activity domain (registered by app/worker/settings.py)."""

from __future__ import annotations

import logging

from arq.cron import CronJob, cron

from app.activity.emit import StatusAnnouncer
from app.activity.log import ActivityLog
from app.kit.jobs import JobContext
from app.webhooks.store import WebhookStore

logger = logging.getLogger("app.activity")

OWED_GRACE_MS = 30_000  # the process that logged a change dispatches it within this, or died


class ActivityContext(JobContext):
    """Nothing of its own: the log and the webhooks are made of ``db`` and ``queue``."""


async def sweep_owed_status_webhooks(ctx: ActivityContext) -> int:
    """Cron (every minute and at start): ``package.status`` webhooks whose process died
    between logging the change and dispatching it."""
    log = ActivityLog.of(ctx["db"], ctx["settings"])
    announcer = StatusAnnouncer(log, WebhookStore(ctx["db"]), ctx["queue"])
    settled = await announcer.sweep_owed(older_than_ms=OWED_GRACE_MS)
    if settled:
        logger.info("activity sweep: %d package.status events owed to the webhooks settled", settled)
    return settled


ACTIVITY_CRON_JOBS: list[CronJob] = [
    cron(
        sweep_owed_status_webhooks,  # type: ignore[arg-type]  # arq types ctx as a plain dict
        name="sweep_owed_status_webhooks",
        run_at_startup=True,
        timeout=30,
        second=30,  # half a minute after the webhook sweep
        keep_result=0,
    ),
]
