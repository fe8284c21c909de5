"""arq's Worker, made to ride out Redis outages instead of exiting.

arq lets a Redis ``ConnectionError`` escape its main loop (python-arq/arq#435): a Redis
restart or failover would end the worker, and its supervisor would restart it over and
over while Redis is away. This worker logs the outage once, retries with capped, jittered
backoff, and carries on when Redis answers again: the open watches, deliveries and jobs
all live in Redis, so nothing is lost, and the poll loop resumes polling.

``python -m app worker`` runs it. ``arq app.worker.WorkerSettings`` runs arq's own CLI and
therefore arq's plain Worker, which still exits on a lost Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from arq.connections import create_pool, log_redis_info
from arq.constants import in_progress_key_prefix
from arq.utils import poll
from arq.worker import Worker, get_kwargs

from app.kit.retry import REDIS_DOWN, Backoff

logger = logging.getLogger("app.worker")


class ResilientWorker(Worker):
    """A Worker whose connection, poll loop and shutdown survive Redis going away."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backoff = Backoff()
        self._down_since: float | None = None
        # Jobs this worker held when Redis failed under them: their in-progress markers
        # would block a rerun for the largest job timeout + 10 s; released on recovery.
        self._orphaned: set[str] = set()

    async def main(self) -> None:
        if self.burst:  # batch mode: arq's own loop, which ends anyway
            await super().main()
            return
        await self._connect()
        logger.info("Starting worker for %d functions: %s", len(self.functions), ", ".join(self.functions))
        with contextlib.suppress(*REDIS_DOWN):
            await log_redis_info(self.pool, logger.info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        async for _ in poll(self.poll_delay_s):
            await self._poll_iteration()

    async def _connect(self) -> None:
        """Wait for Redis as long as it takes (a signal ends the wait)."""
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    self.redis_settings,
                    retry=self.redis_settings.conn_retries if self.redis_settings else 0,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except REDIS_DOWN as exc:
                await self._wait_out(exc)
        await self._recovered()

    async def _poll_iteration(self) -> None:
        self._forget_orphaned_tasks()
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            await self._wait_out(exc)
        else:
            if self._down_since is not None:
                await self._recovered()

    def _forget_orphaned_tasks(self) -> None:
        """Jobs that ended on a Redis error are orphans (see ``run_job``), not news of an
        outage now: arq would raise their errors one per poll; drop them all at once."""
        for job_id, task in list(self.tasks.items()):
            if task.done() and not task.cancelled() and isinstance(task.exception(), REDIS_DOWN):
                del self.tasks[job_id]

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """One job at a time through arq's own ``start_jobs``, so that a Redis error while
        starting one gives its slot back (arq keeps the slot, and runs out of them)."""
        for job_id in job_ids:
            if self.job_counter >= self.max_jobs:
                return
            started = self.tasks.get(job_id.decode())
            try:
                await super().start_jobs([job_id])
            except REDIS_DOWN:
                if self.tasks.get(job_id.decode()) is started:  # counted but never started
                    self._release_sem_dec_counter_on_complete()
                raise

    async def run_job(self, job_id: str, score: int) -> None:
        try:
            await super().run_job(job_id, score)
        except REDIS_DOWN:
            self._orphaned.add(job_id)
            raise

    async def close(self) -> None:
        """arq's ``close``, minus the Redis errors that would skip ``on_shutdown``."""
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if self._pool is None:
            return
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        with contextlib.suppress(*REDIS_DOWN):
            await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        with contextlib.suppress(*REDIS_DOWN):
            await self.pool.aclose(close_connection_pool=True)
        self._pool = None

    async def _wait_out(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning("redis unavailable, retrying with backoff: %r", exc)
        await asyncio.sleep(self._backoff.next_delay())

    async def _recovered(self) -> None:
        if self._orphaned:
            orphans = list(self._orphaned)
            try:
                await self.pool.delete(*(in_progress_key_prefix + job_id for job_id in orphans))
            except REDIS_DOWN as exc:
                await self._wait_out(exc)
                return
            self._orphaned.difference_update(orphans)
        if self._down_since is not None:
            logger.info("redis is back after %.1f s; resuming", time.monotonic() - self._down_since)
        self._down_since = None
        self._backoff.reset()


def run_resilient_worker(settings_cls: type) -> None:
    """``arq``'s ``run_worker`` with the resilient Worker, on uvloop when it is installed
    (it is, with uvicorn's standard extras; the API runs on it too). arq takes the current
    event loop and never picks one; on uvloop a poll of a long history costs a quarter less
    CPU (bench/watch_scale.py: 4.50-4.80 -> 3.30-3.60 ms per partner per interval)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform uvloop does not support
        pass
    else:
        asyncio.set_event_loop(uvloop.new_event_loop())
    ResilientWorker(**get_kwargs(settings_cls)).run()
