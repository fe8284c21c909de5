"""What every arq function finds in ``ctx``: arq's own connection and the clients the worker
opens at start. Each domain's ``tasks.py`` extends it with what its own jobs touch, and the
worker's ``WorkerContext`` is the union of them all."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from arq.connections import ArqRedis
from redis.asyncio import Redis

from app.kit.settings import Settings


class JobContext(TypedDict):
    # Set by arq.
    redis: ArqRedis  # arq's own connection; jobs use it as ``queue``
    job_try: NotRequired[int]  # 1 on a job's first run (absent in startup/shutdown)
    # Set by the worker's on_startup.
    settings: Settings
    queue: ArqRedis  # the arq queue (the same connection as ``redis``): enqueue follow-up jobs
    db: Redis  # our own keys (watches, statuses, deliveries, exports): responses decoded to str
