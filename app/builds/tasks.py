"""The arq cron job of the status poller (registered by app/worker.py).

No job per watch: one tick a second (``unique``, so one worker runs each) polls
whichever partners are due, and sleeps between due times within its second. The
watch registry in Redis is the truth, so a (re)started worker simply resumes.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from arq.cron import CronJob, cron
from redis.asyncio import Redis

from app.builds.poller import Poller
from app.worker_context import WorkerContext

TICK_SPAN_S = 0.9  # each tick works for most of its second; the next one takes over
TICK_TIMEOUT_S = 30  # > TICK_SPAN_S + poller.MAX_POLL_BUDGET_S; short, see app/worker.py


_pollers: WeakKeyDictionary[Redis, Poller] = WeakKeyDictionary()


def poller_of(ctx: WorkerContext) -> Poller:
    """One Poller per worker (per Redis client), made on its first tick."""
    poller = _pollers.get(ctx["db"])
    if poller is None:
        poller = _pollers[ctx["db"]] = Poller(ctx["db"], ctx["queue"], ctx["upstream"], ctx["settings"])
    return poller


async def watch_tick(ctx: WorkerContext) -> int:
    """Poll every partner that is due; returns the number of partner polls."""
    return await poller_of(ctx).tick(TICK_SPAN_S)


BUILD_CRON_JOBS: list[CronJob] = [
    cron(
        watch_tick,  # type: ignore[arg-type]  # arq types ctx as a plain dict
        name="watch_tick",
        second=set(range(60)),
        run_at_startup=True,
        unique=True,
        timeout=TICK_TIMEOUT_S,
        keep_result=5,
        max_tries=1,
    ),
]
