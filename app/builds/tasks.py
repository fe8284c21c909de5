"""The worker's status poller: a loop each worker process runs from start to shutdown.

Not an arq job: every worker polls, and a per-partner claim in Redis (``PollSchedule``)
makes one of them poll each due partner, so polling spreads over all workers and a due
partner waits for no tick. The watch registry in Redis is the truth, so a (re)started
worker simply resumes.
"""

from __future__ import annotations

import asyncio
import logging

from app.builds.poller import STOP_GRACE_S, Poller
from app.kit.jobs import JobContext
from app.upstream import PackageBuilderClient

logger = logging.getLogger("app.watches")


class BuildsContext(JobContext):
    upstream: PackageBuilderClient


class StatusPolling:
    """The poll loop of one worker: ``start`` at worker start-up, ``stop`` at shutdown."""

    def __init__(self, ctx: BuildsContext) -> None:
        self._poller = Poller(ctx["db"], ctx["queue"], ctx["upstream"], ctx["settings"])
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poller.run(self._stopping), name="status-poller")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Stop claiming partners; polls in flight get ``STOP_GRACE_S`` to finish."""
        self._stopping.set()
        if self._task is not None:
            try:
                async with asyncio.timeout(STOP_GRACE_S + 5):
                    await self._task
            except TimeoutError:
                logger.warning("the status poller did not stop in time")

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not self._stopping.is_set() and not task.cancelled():  # it never returns by itself
            logger.error("the status poller ended: %r", task.exception())
