"""arq WorkerSettings: the worker's functions, its clients in ctx, and its schedule.

Start with ``arq app.worker.WorkerSettings`` or ``python -m app worker``.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import redis_keys
from app.clients import arq_redis_settings, make_redis, make_upstream
from app.exports.tasks import EXPORT_FUNCTIONS
from app.settings import Settings, get_settings
from app.upstream import PackageBuilderClient
from app.watches.tasks import WATCH_CRON_JOBS, WATCH_FUNCTIONS
from app.webhooks.tasks import (
    WEBHOOK_CRON_JOBS,
    WEBHOOK_FUNCTIONS,
    webhook_shutdown,
    webhook_startup,
)

logger = logging.getLogger("app.worker")


class WorkerCtx(TypedDict):
    """What every job finds in ``ctx`` (arq adds ``redis``, ``job_id``, ``job_try``…)."""

    settings: Settings
    store: Redis
    upstream: PackageBuilderClient
    redis: ArqRedis
    queue: ArqRedis


class _QuietTicks(logging.Filter):
    """The watch tick runs every second: its start/finish lines would drown the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "watch_tick" not in record.getMessage()


def _quiet_logs() -> None:
    logging.getLogger("arq.worker").addFilter(_QuietTicks())
    for noisy in ("httpx", "httpcore"):  # one line per upstream request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def on_startup(ctx: dict[str, Any]) -> None:
    _quiet_logs()
    settings = get_settings()
    ctx["settings"] = settings
    ctx["store"] = make_redis(settings)
    ctx["upstream"] = make_upstream(settings)
    ctx["queue"] = ctx["redis"]  # arq's own pool: jobs enqueue follow-up jobs with it
    await webhook_startup(ctx)
    logger.info("worker started (upstream %s)", settings.upstream_base)
    try:
        partners = await ctx["store"].zcard(redis_keys.WATCH_PARTNERS)
        logger.info("resuming the open watches of %d partner(s)", partners)
    except RedisError as exc:  # the tick resumes them once Redis answers
        logger.warning("redis not reachable at start: %s", exc)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    await webhook_shutdown(ctx)
    await ctx["upstream"].aclose()
    await ctx["store"].aclose(close_connection_pool=True)


async def ping(ctx: dict[str, Any]) -> str:
    """A no-op job: proves the queue and a worker are alive."""
    return "pong"


class WorkerSettings:
    functions = [ping, *WATCH_FUNCTIONS, *WEBHOOK_FUNCTIONS, *EXPORT_FUNCTIONS]
    cron_jobs = [*WATCH_CRON_JOBS, *WEBHOOK_CRON_JOBS]
    on_startup = on_startup
    on_shutdown = on_shutdown
    redis_settings = arq_redis_settings(get_settings())
    health_check_interval = 30
    max_jobs = 50
    # The default for functions without their own timeout; arq re-runs the jobs of a
    # SIGKILLed worker after the largest timeout + 10 s, so every timeout stays short.
    job_timeout = 30
