"""``WorkerLoop`` (app/worker/run.py) in this process, on a Redis of its own that the tests
stop and start: a stock arq Worker that a Redis outage ends is closed (its ``on_shutdown``
runs while Redis is still down) and a fresh one takes over once Redis answers; the jobs
it could not finish run again at once; anything but a Redis error ends the loop.

The Workers here have no Redis retries (plain ``RedisSettings``), so any outage ends them;
the real worker's retries and both launchers are covered by tests/test_worker_outages.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob, cron
from arq.worker import Worker, create_worker, func, get_kwargs

from app.kit import lua
from app.worker.run import RELEASE_ORPHANS, WorkerLoop, serve
from tests.builds.support import wait_until
from tests.support.processes import RedisServer, free_port


async def until(check: Callable[[], object], what: str) -> None:
    async def checked() -> bool:
        return bool(check())

    await wait_until(checked, what=what)


@pytest.fixture(scope="module")
def loop_redis() -> Iterator[RedisServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="bff-redis-loop-"))
    server = RedisServer(free_port(), data_dir).start()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


class Record:
    """What the hooks and jobs of the test settings saw, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.tries: dict[str, list[int]] = {}  # job name -> job_try of each run
        self.loops: list[type] = []
        self.pollers: list[asyncio.Task[None]] = []  # like the status poll loop on_startup starts
        self.release = asyncio.Event()


async def _forever() -> None:
    await asyncio.Event().wait()


def settings_for(redis_server: RedisServer, record: Record, queue: str, **extra: Any) -> type:
    """WorkerSettings as the app writes them, on a queue of this test's own."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        record.events.append("startup")
        record.loops.append(type(asyncio.get_running_loop()))
        record.pollers.append(asyncio.create_task(_forever()))

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        record.events.append("shutdown")
        for poller in record.pollers:
            poller.cancel()

    async def note(ctx: dict[str, Any], name: str) -> None:
        record.tries.setdefault(name, []).append(ctx["job_try"])

    async def held(ctx: dict[str, Any], name: str) -> None:
        """Runs until the test releases it (the first run is cut off by the outage)."""
        record.tries.setdefault(name, []).append(ctx["job_try"])
        if ctx["job_try"] == 1:
            await record.release.wait()

    return type(
        "TestWorkerSettings",
        (),
        {
            "functions": [func(note, name="note"), func(held, name="held")],
            "queue_name": queue,
            "redis_settings": RedisSettings.from_dsn(redis_server.url),
            "on_startup": on_startup,
            "on_shutdown": on_shutdown,
            "handle_signals": False,  # pytest keeps its own
            "poll_delay": 0.05,
            # arq holds an unfinished job back for the largest timeout + 10 s: far longer than
            # the loop takes to run it again.
            "job_timeout": 120,
            **extra,
        },
    )


@pytest.fixture
async def queue(loop_redis: RedisServer) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(loop_redis.url))
    yield pool
    await pool.aclose()


def ensure_running(redis_server: RedisServer) -> None:
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()


async def test_a_worker_ended_by_an_outage_is_shut_down_and_replaced(loop_redis, queue):
    record = Record()
    loop = WorkerLoop(settings_for(loop_redis, record, "q-replace"))
    running = asyncio.create_task(loop.run())
    try:
        await queue.enqueue_job("note", "before", _queue_name="q-replace")
        await until(lambda: record.tries.get("before"), what="a job before the outage")

        loop_redis.stop()
        await until(lambda: "shutdown" in record.events, what="on_shutdown during the outage")
        assert loop_redis.process is not None and loop_redis.process.poll() is not None, "still down"
        assert all(poller.done() for poller in record.pollers)

        loop_redis.start()
        await until(lambda: record.events.count("startup") == 2, what="a fresh worker")
        await queue.enqueue_job("note", "after", _queue_name="q-replace")
        await until(lambda: record.tries.get("after"), what="a job after the outage")
    finally:
        ensure_running(loop_redis)
        loop.stop()
        await running
    assert record.events == ["startup", "shutdown", "startup", "shutdown"]
    assert all(poller.done() for poller in record.pollers), "no poll loop outlives its worker"
    assert loop.workers_started == 2


async def test_a_job_cut_off_by_an_outage_runs_again_as_soon_as_redis_is_back(loop_redis, queue):
    record = Record()
    settings = settings_for(loop_redis, record, "q-orphan")
    loop = WorkerLoop(settings)
    running = asyncio.create_task(loop.run())
    try:
        job = await queue.enqueue_job("held", "cut", _queue_name="q-orphan")
        assert job is not None
        await until(lambda: record.tries.get("cut"), what="the job started")
        assert await queue.exists(in_progress_key_prefix + job.job_id)

        loop_redis.stop()  # kept on disk: the job's in-progress key outlives the restart
        await until(lambda: "shutdown" in record.events, what="the worker ended")
        loop_redis.start()
        restarted = asyncio.get_running_loop().time()
        await until(lambda: record.tries["cut"] == [1, 2], what="the job run again")
        rerun_after_s = asyncio.get_running_loop().time() - restarted
    finally:
        ensure_running(loop_redis)
        record.release.set()
        loop.stop()
        await running
    # Without the release arq would wait for the in-progress key: 120 + 10 s.
    assert rerun_after_s < 10, rerun_after_s
    print(f"\nrun again {rerun_after_s:.2f} s after Redis was back")


async def test_only_in_progress_keys_that_can_still_be_ours_are_released(queue):
    """Ours expire within the time given; one that lives longer was set since by another
    worker, which runs the job now, and one without expiry is no key arq set."""
    keys = [in_progress_key_prefix + name for name in ("ours", "taken-over", "no-expiry")]
    await queue.psetex(keys[0], 5_000, b"1")
    await queue.psetex(keys[1], 60_000, b"1")
    await queue.set(keys[2], b"1")
    released = await lua.script(queue, RELEASE_ORPHANS)(keys=[*keys, "gone"], args=[10_000])
    assert released == 1
    assert [await queue.exists(key) for key in keys] == [0, 1, 1]
    await queue.delete(*keys)


async def test_anything_but_a_redis_error_ends_the_loop(loop_redis):
    record = Record()

    async def broken_startup(ctx: dict[str, Any]) -> None:
        record.events.append("startup")
        raise ValueError("a bug, not an outage")

    loop = WorkerLoop(settings_for(loop_redis, record, "q-bug", on_startup=broken_startup))
    with pytest.raises(ValueError, match="a bug"):
        await loop.run()
    assert record.events == ["startup", "shutdown"] and loop.workers_started == 1


async def test_stop_during_an_outage_ends_the_loop_and_starts_no_worker(loop_redis):
    record = Record()
    loop = WorkerLoop(settings_for(loop_redis, record, "q-stop"))
    running = asyncio.create_task(loop.run())
    try:
        await until(lambda: record.events == ["startup"], what="the worker started")
        loop_redis.stop()
        await until(lambda: record.events == ["startup", "shutdown"], what="the worker ended")
        loop.stop()  # between two Workers, or while the next one waits for Redis
        async with asyncio.timeout(5):
            await running
    finally:
        ensure_running(loop_redis)
    assert record.events == ["startup", "shutdown"]


def test_serve_runs_the_workers_on_uvloop_and_returns_after_a_burst(loop_redis: RedisServer) -> None:
    """A Worker that ends by itself (burst mode: its queue is empty) is not replaced."""
    record = Record()
    serve(settings_for(loop_redis, record, "q-burst", burst=True))
    assert record.events == ["startup", "shutdown"]
    assert record.loops == [uvloop.Loop]


async def test_what_the_loop_uses_of_arq_is_still_there():
    """``WorkerLoop`` uses public parts of arq that no underscore marks and no type checks
    fence: this test names each one, so an arq upgrade that changes them fails here first
    (then read app/worker/run.py again before moving the pin in pyproject.toml)."""
    # ``_run`` re-creates ``Worker.async_run``: main_task is set to a task of main(), awaited.
    assert inspect.iscoroutinefunction(Worker.main)
    async_run = inspect.getsource(Worker.async_run)
    assert "self.main_task = self.loop.create_task(self.main())" in async_run
    assert "await self.main_task" in async_run
    # ``stop`` takes over arq's signal handlers; ``_close`` calls its close.
    for handler in (Worker.handle_sig, Worker.handle_sig_wait_for_completion):
        assert list(inspect.signature(handler).parameters) == ["self", "signum"]
    assert inspect.iscoroutinefunction(Worker.close)
    # ``__init__`` reads the settings as arq's CLI does and overrides hooks and cron jobs.
    hooks = set(inspect.signature(Worker).parameters)
    assert {"on_startup", "on_shutdown", "cron_jobs", "handle_signals", "job_completion_wait"} <= hooks
    assert set(get_kwargs({"on_startup": None, "not_an_option": 1})) == {"on_startup"}
    # ``_new_worker`` resets each cron job's next run on a copy (a dataclass field).
    assert "next_run" in {field.name for field in dataclasses.fields(CronJob)}
    job = cron(_noop, second=0)
    assert dataclasses.replace(job, next_run=None).next_run is None
    # ``_note_orphans`` and ``_prepare`` read the Worker's running tasks and its in-progress
    # timeout, and delete in-progress keys named by arq's prefix and the job id.
    worker = create_worker(
        {"functions": [func(_noop, name="noop", timeout=30)], "handle_signals": False},
        redis_settings=RedisSettings(port=free_port()),
    )
    assert worker.main_task is None
    assert worker.tasks == {}
    assert worker.in_progress_timeout_s == 30 + 10
    assert worker.pool is None and isinstance(worker.ctx, dict)
    assert in_progress_key_prefix == "arq:in-progress:"
    assert "in_progress_key = in_progress_key_prefix + job_id" in inspect.getsource(Worker.start_jobs)


async def _noop(ctx: dict[str, Any]) -> None:
    return None
