"""The worker's ``/metrics`` (``MetricsServer``), and a sampler that reads the figures only
Redis knows (open watches, queue depth, pending deliveries).

Started in the worker's ``on_startup`` and stopped in ``on_shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis

from app.builds import keys as build_keys
from app.builds.schedule import PollSchedule
from app.kit.retry import REDIS_ERRORS
from app.observability import metrics
from app.observability.metrics_server import MetricsServer
from app.webhooks import keys as webhook_keys

logger = logging.getLogger("app.metrics")

SAMPLE_INTERVAL_S = 5.0


class WorkerMetrics:
    """``/metrics`` on ``host:port`` (port 0: off) and a sample of Redis every few seconds."""

    def __init__(
        self,
        redis: Redis,
        queue: Redis,
        queue_name: str,
        *,
        host: str,
        port: int,
        interval_s: float = SAMPLE_INTERVAL_S,
    ) -> None:
        """``redis`` holds the data, ``queue`` arq's queue (the same Redis unless
        ``BFF_QUEUE_REDIS_URL`` names another)."""
        self._redis = redis
        self._schedule = PollSchedule(redis)
        self._queue = queue
        self._queue_name = queue_name
        self._server = MetricsServer(host=host, port=port, name="worker")
        self._interval_s = interval_s
        self._sampler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self._server.start():
            return
        self._sampler = asyncio.create_task(self._sample_forever(), name="worker-metrics-sampler")

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        await self._server.stop()

    async def sample(self) -> None:
        """Open watches and partners, due and deferred jobs, pending deliveries."""
        partners = await self._schedule.partners()
        now_ms = int(time.time() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for partner_id in partners:
                pipe.hlen(build_keys.watch_set(partner_id))
            for shard in webhook_keys.webhook_pending_shards():
                pipe.zcard(shard)
            counts = await pipe.execute()
        watches, pending = counts[: len(partners)], counts[len(partners) :]
        async with self._queue.pipeline(transaction=False) as pipe:
            pipe.zcard(self._queue_name)
            pipe.zcount(self._queue_name, "-inf", now_ms)
            queued, due = await pipe.execute()
        metrics.OPEN_WATCHES.set(sum(watches))
        metrics.WATCHED_PARTNERS.set(len(partners))
        metrics.QUEUE_JOBS.labels("due").set(due)
        metrics.QUEUE_JOBS.labels("deferred").set(queued - due)
        metrics.PENDING_DELIVERIES.set(sum(pending))

    async def _sample_forever(self) -> None:
        while True:
            try:
                await self.sample()
            except (*REDIS_ERRORS, OSError) as exc:
                metrics.WORKER_REDIS_UP.set(0)
                logger.debug("metrics sample failed: %s", exc)
            else:
                metrics.WORKER_REDIS_UP.set(1)
            await asyncio.sleep(self._interval_s)
