"""arq WorkerSettings: the worker's functions, its clients in ctx, and its schedule.

Start with ``python -m app worker`` (app/worker/run.py): it replaces a Worker that a Redis
outage ended. ``arq app.worker.WorkerSettings`` runs the same settings, whose Redis retries
ride out a short restart, but exits on what escapes them (app/worker/run.py says what).
"""

from __future__ import annotations

import logging
import socket

from arq.constants import default_queue_name

from app.activity.tasks import SWEEP_CRON_JOBS
from app.builds.schedule import PollSchedule
from app.builds.tasks import StatusPolling
from app.exports.tasks import EXPORT_FUNCTIONS
from app.kit.redis import arq_redis_settings, close_redis, make_redis
from app.kit.retry import REDIS_ERRORS
from app.kit.runtime import settle_heap
from app.kit.settings import get_settings
from app.observability.logs import ensure_logging, keep_arq_on_our_handler
from app.upstream.factory import make_upstream
from app.webhooks.delivery import make_webhook_client
from app.webhooks.tasks import WEBHOOK_FUNCTIONS
from app.worker import keys as worker_keys
from app.worker.context import WorkerContext
from app.worker.metrics import WorkerMetrics

logger = logging.getLogger("app.worker")


async def on_startup(ctx: WorkerContext) -> None:
    settings = get_settings()
    ensure_logging(settings.log_format)
    ctx["settings"] = settings
    ctx["queue"] = ctx["redis"]
    ctx["db"] = make_redis(settings)
    ctx["upstream"] = make_upstream(settings)
    ctx["webhook_http"] = make_webhook_client(settings)
    ctx["metrics"] = WorkerMetrics(
        ctx["db"],
        ctx["queue"],
        default_queue_name,
        host=settings.worker_metrics_host,
        port=settings.worker_metrics_port,
    )
    await ctx["metrics"].start()
    logger.info("worker started (upstream %s)", settings.upstream_base)
    try:
        partners = await PollSchedule(ctx["db"]).count()
        logger.info("resuming the open watches of %d partner(s)", partners)
    except REDIS_ERRORS as exc:  # the poller resumes them once Redis answers
        logger.warning("redis not reachable at start: %s", exc)
    ctx["polling"] = StatusPolling(ctx)
    ctx["polling"].start()
    settle_heap()


async def on_shutdown(ctx: WorkerContext) -> None:
    """Closes what ``on_startup`` made, as far as it got (arq calls this even when a Redis
    error ended its Worker before ``on_startup``)."""
    if (polling := ctx.get("polling")) is not None:
        await polling.stop()  # before the clients its polls use are closed
    if (metrics := ctx.get("metrics")) is not None:
        await metrics.stop()
    if (webhook_http := ctx.get("webhook_http")) is not None:
        await webhook_http.aclose()
    if (upstream := ctx.get("upstream")) is not None:
        await upstream.aclose()
    if (db := ctx.get("db")) is not None:
        await close_redis(db)
    logger.info("worker stopped")


keep_arq_on_our_handler(get_settings().log_format)  # ``arq app.worker.WorkerSettings`` logs JSON too


class WorkerSettings:
    functions = [*WEBHOOK_FUNCTIONS, *EXPORT_FUNCTIONS]
    cron_jobs = SWEEP_CRON_JOBS
    on_startup = on_startup
    on_shutdown = on_shutdown
    redis_settings = arq_redis_settings(get_settings())
    health_check_interval = 30
    # Per host, not arq's one key per queue: ``arq --check`` (the pod's probes) then fails
    # when this pod's worker stops, whatever the other replicas do.
    health_check_key = worker_keys.worker_health(socket.gethostname())
    max_jobs = 50
    # On SIGTERM, running jobs may finish (then the rest are cancelled and re-run later):
    # below the worker's termination grace periods (Kubernetes 60 s, compose 45 s).
    job_completion_wait = 30
    # The default for functions without their own timeout; arq re-runs the jobs of a
    # SIGKILLed worker after the largest timeout + 10 s, so every timeout stays short.
    job_timeout = 30
