"""``python -m app worker``: stock arq Workers, one after another, so that the process
outlives Redis outages (a Redis error ends an arq Worker: python-arq/arq#435).

Two layers, public APIs only:

1. ``arq_redis_settings`` (app/kit/redis.py) gives arq's connections redis-py's ``Retry``:
   a command that meets a refused or dropped connection is tried again for about five
   seconds, so one Worker rides out a short Redis restart by itself.
2. What escapes that ends the Worker: a connection lost inside a WATCH (``WatchError``), a
   longer outage, any error under Sentinel. ``WorkerLoop`` then closes it (its
   ``on_shutdown`` stops the status poll loop and closes its clients even while Redis is
   still down) and, after a capped, jittered backoff, starts a fresh Worker made by
   ``arq.worker.create_worker`` from the same WorkerSettings: a fresh ``on_startup``, so a
   fresh poll loop and fresh clients. It connects as any arq Worker does (``create_pool``,
   ``conn_retries``); if Redis is still away, it ends too and the loop backs off further.

Jobs in flight when a Worker ends are run again by arq (at-least-once). arq marks a
running job with an in-progress key that expires after the largest job timeout + 10 s
(40 s here); before a fresh Worker polls, the loop deletes the keys of the jobs the last
one could not finish, so they run again at once instead.

SIGTERM and SIGINT stop the running Worker as arq's own handlers would (running jobs get
``job_completion_wait``), and no Worker starts after them.

What this loop uses of arq beyond ``create_worker`` and a Worker's documented methods (it
re-creates ``Worker.async_run`` to set ``main_task``; it reads ``tasks``,
``in_progress_timeout_s``, ``pool`` and ``ctx``, copies each ``CronJob`` with ``next_run`` reset,
and deletes keys under ``in_progress_key_prefix``) is named, one by one, by
``tests/test_worker_loop.py::test_what_the_loop_uses_of_arq_is_still_there``, which fails on an
arq release that changes any of it; arq itself is pinned exactly in pyproject.toml.

``arq app.worker.WorkerSettings`` (arq's own CLI) runs the same settings with layer 1 only.
There, what escapes the retries ends the process: arq's ``close`` deletes its health key
before it calls ``on_shutdown``, so while Redis is still away it raises there, skipping
``on_shutdown``, and the process exits with that error for its supervisor to restart.
Jobs it was running wait for their in-progress keys to expire (40 s). A SIGTERM during an
outage ends it the same way, exit code 1. And arq's CLI runs on asyncio's own event loop:
arq never picks one, ``python -m app worker`` picks uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import Worker, create_worker, get_kwargs

from app.kit import lua
from app.kit.retry import REDIS_DOWN, Backoff

logger = logging.getLogger("app.worker")

HEALTHY_RUN_S = 30.0  # a Worker that had Redis this long was healthy (``_note_outage``)
# How long arq's ``close`` may take (running jobs finishing, ``on_shutdown``) before the
# loop cancels it and finishes the shutdown itself. After a signal arq already gave the
# jobs ``job_completion_wait`` (30 s): both together stay within the pod's 40 s grace.
CLOSE_GRACE_S = 10.0

RELEASE_ORPHANS = "worker/lua/release_orphans.lua"  # see ``WorkerLoop._prepare``

Hook = Callable[[dict[Any, Any]], Awaitable[Any]]
Prepare = Callable[[ArqRedis], Awaitable[None]]


class Lifecycle:
    """One Worker's ``on_startup``/``on_shutdown``, wrapped. ``prepare`` runs first, on
    arq's connection. The shutdown hook runs once, to its end, and only if the startup
    hook began (arq calls it whenever it has a pool): the loop calls ``shutdown`` again
    when arq's ``close`` stopped short of it, which then waits for the run under way or
    does nothing."""

    def __init__(self, on_startup: Hook | None, on_shutdown: Hook | None, prepare: Prepare) -> None:
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._prepare = prepare
        self._started = False
        self._stopping: asyncio.Future[Any] | None = None

    async def startup(self, context: dict[Any, Any]) -> None:
        await self._prepare(context["redis"])
        self._started = True
        if self._on_startup is not None:
            await self._on_startup(context)

    async def shutdown(self, context: dict[Any, Any]) -> None:
        if not self._started or self._on_shutdown is None:
            return
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._on_shutdown(context))
        # Shielded: a cancelled ``close`` leaves it running, and the loop waits for it.
        await asyncio.shield(self._stopping)


class WorkerLoop:
    """Runs arq Workers made from ``settings_cls`` until ``stop`` (SIGTERM, SIGINT) or a
    Worker ends by itself (burst mode); a Worker that ends on a Redis error is replaced."""

    def __init__(self, settings_cls: type) -> None:
        self._settings_cls = settings_cls
        self._options = cast(dict[str, Any], get_kwargs(settings_cls))  # arq types its values as NameError
        self._handle_signals = bool(self._options.get("handle_signals", True))
        self._stopping = asyncio.Event()
        self._backoff = Backoff()
        self._worker: Worker | None = None
        self._started_at: float | None = None  # when the current Worker got Redis
        self._down_since: float | None = None
        self._orphans: set[str] = set()  # jobs a Worker left unfinished (``_note_orphans``)
        self._orphans_expire_by = 0.0
        self.workers_started = 0

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """No Worker starts any more; the running one stops as arq stops it on a signal (its
        jobs get ``job_completion_wait`` to finish)."""
        self._stopping.set()
        worker = self._worker
        if worker is not None and worker.main_task is not None and not worker.main_task.done():
            if self._options.get("job_completion_wait"):
                worker.handle_sig_wait_for_completion(sig)
            else:
                worker.handle_sig(sig)

    async def run(self) -> None:
        self._take_signals()
        try:
            while not self._stopping.is_set():
                lifecycle = Lifecycle(
                    self._options.get("on_startup"), self._options.get("on_shutdown"), self._prepare
                )
                worker = self._worker = self._new_worker(lifecycle)
                # arq's Worker installed its own handlers when it was made: ours again, so that
                # a signal between two Workers stops the loop too.
                self._take_signals()
                ended = await self._run(worker)
                ended_at = time.monotonic()
                if isinstance(ended, REDIS_DOWN) and not self._stopping.is_set():
                    self._note_outage(ended)
                await self._close(worker, lifecycle)
                self._note_orphans(worker, ended_at)
                self._worker = None
                if self._stopping.is_set() or ended is None:
                    return
                if not isinstance(ended, REDIS_DOWN):
                    raise ended
                await self._pause(self._backoff.next_delay())
        finally:
            if self._handle_signals:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    def _take_signals(self) -> None:
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop, sig)

    def _new_worker(self, lifecycle: Lifecycle) -> Worker:
        """A Worker as arq's CLI makes it, with the hooks wrapped and fresh copies of the
        cron jobs: arq keeps each cron job's next run on the job itself, so a fresh Worker
        runs the ``run_at_startup`` ones at its start again."""
        overrides: dict[str, Any] = {"on_startup": lifecycle.startup, "on_shutdown": lifecycle.shutdown}
        if cron_jobs := self._options.get("cron_jobs"):
            overrides["cron_jobs"] = [dataclasses.replace(job, next_run=None) for job in cron_jobs]
        self.workers_started += 1
        return create_worker(self._settings_cls, **overrides)

    async def _run(self, worker: Worker) -> BaseException | None:
        """Until the Worker ends: None after a signal or a burst, else the error it ended on.
        ``main_task`` is set before the first ``await`` (as ``Worker.async_run`` sets it), so
        a signal always finds the task to cancel."""
        worker.main_task = asyncio.create_task(worker.main())
        await asyncio.wait({worker.main_task})
        return None if worker.main_task.cancelled() else worker.main_task.exception()

    async def _close(self, worker: Worker, lifecycle: Lifecycle) -> None:
        """arq's ``close``: running jobs finish, its health key goes, ``on_shutdown``, its pool
        closes. While Redis is down it raises at the health key, before ``on_shutdown``, or
        may outlast ``CLOSE_GRACE_S``; the rest is done here then."""
        closing = asyncio.ensure_future(worker.close())
        await asyncio.wait({closing}, timeout=CLOSE_GRACE_S)
        if not closing.done():
            logger.warning("the arq worker did not close within %.0f s; cancelling its jobs", CLOSE_GRACE_S)
            closing.cancel()
            await asyncio.wait({closing})
        error = None if closing.cancelled() else closing.exception()
        if closing.cancelled() or error is not None:
            if error is not None and not isinstance(error, REDIS_DOWN):
                logger.error("closing the arq worker failed", exc_info=error)
            try:
                await lifecycle.shutdown(worker.ctx)
            except Exception:
                logger.exception("the worker's on_shutdown failed")
            pool: ArqRedis | None = worker.pool  # None once arq's close got to its end
            if pool is not None:
                with contextlib.suppress(*REDIS_DOWN):
                    await pool.aclose(close_connection_pool=True)

    def _note_orphans(self, worker: Worker, ended_at: float) -> None:
        """Jobs whose run ended without arq recording it (a Redis error, or cancelled in
        ``_close``) keep their in-progress keys, which hold them back for the Worker's
        ``in_progress_timeout_s``. Those keys were set before the Worker ended, so each
        expires by ``ended_at`` plus that."""
        orphans = {
            job_id
            for job_id, task in worker.tasks.items()
            if not task.done() or task.cancelled() or task.exception() is not None
        }
        if orphans:
            self._orphans |= orphans
            self._orphans_expire_by = ended_at + worker.in_progress_timeout_s

    def _note_outage(self, error: BaseException) -> None:
        """Logged once per outage. A Worker that had Redis for ``HEALTHY_RUN_S`` was healthy:
        the backoff starts afresh; one that fails soon after each start backs off further."""
        now = time.monotonic()
        if self._started_at is not None and now - self._started_at >= HEALTHY_RUN_S:
            self._backoff.reset()
        self._started_at = None
        if self._down_since is None:
            self._down_since = now
            logger.warning("redis unavailable: the arq worker ended on %r; starting a fresh one", error)

    async def _prepare(self, redis: ArqRedis) -> None:
        """A fresh Worker has Redis: release the orphans' in-progress keys before it polls,
        so arq runs those jobs again now. A key of ours expires by ``_orphans_expire_by``;
        one with longer to live was set since by another worker, which runs the job now,
        so ``RELEASE_ORPHANS`` leaves it."""
        left_ms = int((self._orphans_expire_by - time.monotonic()) * 1000)
        if self._orphans and left_ms > 0:
            keys = [in_progress_key_prefix + job_id for job_id in self._orphans]
            released = await lua.script(redis, RELEASE_ORPHANS)(keys=keys, args=[left_ms])
            logger.info("released %s job(s) the last arq worker left unfinished", released)
        self._orphans.clear()
        self._started_at = time.monotonic()
        if self._down_since is not None:
            logger.info(
                "redis is back after %.1f s; a fresh arq worker starts", self._started_at - self._down_since
            )
            self._down_since = None

    async def _pause(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay_s):
                await self._stopping.wait()


def serve(settings_cls: type) -> None:
    """Run a ``WorkerLoop`` on uvloop when it is installed (it is, with uvicorn's standard
    extras; the API runs on it too). arq takes the running loop and never picks one."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform uvloop does not support
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(WorkerLoop(settings_cls).run())
