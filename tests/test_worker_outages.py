"""The worker across Redis restarts, started either way: ``python -m app worker`` (a fresh
arq Worker whenever one ends on a Redis error, app/worker/run.py) and arq's own CLI (the
same WorkerSettings, whose Redis retries ride out a short restart).

Real processes: a Redis of their own with AOF and an fsync before every answer (so even a
SIGKILL loses nothing a client was told was written), the API, the simulator, and a
partner's webhook receiver. The delivery contract is at-least-once: a webhook may arrive
more than once, always under the same ``webhook-id`` with the same bytes. "Once" below
means once per build: exactly one event (one ``webhook-id``) for each build, received at
least once, every copy identical.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.builds.support import WebhookReceiver, register_webhook, wait_until
from tests.conftest import make_token
from tests.support.processes import (
    WORKER_LAUNCHERS,
    ApiServer,
    ManagedProcess,
    RedisServer,
    api_and_worker,
    free_port,
)
from tests.support.sim import force_status, make_package


@dataclass
class Deployment:
    redis: RedisServer
    api: ApiServer
    worker: ManagedProcess


@contextmanager
def deployed(bff_env: dict[str, str], launcher: str) -> Iterator[Deployment]:
    """API and worker on a Redis of their own, which the test may stop, kill and restart."""
    data_dir = Path(tempfile.mkdtemp(prefix="bff-redis-restarts-"))
    redis_server = RedisServer(free_port(), data_dir, fsync_always=True).start()
    try:
        env = {**bff_env, "BFF_REDIS_URL": redis_server.url}
        with api_and_worker("restarts", env, launcher) as (api, worker):
            yield Deployment(redis_server, api, worker)
    finally:
        redis_server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@asynccontextmanager
async def partner_client(deployment: Deployment, partner: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    async with httpx.AsyncClient(base_url=deployment.api.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookReceiver]:
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.stop()


async def watch(client: httpx.AsyncClient, package_id: str) -> None:
    """Until the API accepts the watch: it answers 503 while Redis is away, and a watch
    asked for twice is one watch."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await client.post(f"/v1/packages/{package_id}/watch")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 202:
            return
        assert response is None or response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the API never accepted the watch"
        await asyncio.sleep(0.1)


def announced(hooks: WebhookReceiver) -> set[str]:
    return {delivery.payload()["data"]["package_id"] for delivery in hooks.deliveries}


async def delivered(hooks: WebhookReceiver, package_ids: list[str], deadline_s: float = 60) -> None:
    async def arrived() -> bool:
        return set(package_ids) <= announced(hooks)

    await wait_until(arrived, deadline_s=deadline_s, what=f"the events of {len(package_ids)} builds")


def assert_each_build_announced_once(hooks: WebhookReceiver, package_ids: list[str]) -> int:
    """One event per build, received at least once, each copy the same bytes under the same
    ``webhook-id``; returns how many deliveries were repeats."""
    events: dict[str, set[str]] = {}  # package id -> webhook ids
    bodies: dict[str, set[bytes]] = {}  # webhook id -> bodies received under it
    for delivery in hooks.deliveries:
        payload = delivery.payload()
        assert payload["type"] == "package.done", payload
        events.setdefault(payload["data"]["package_id"], set()).add(delivery.webhook_id)
        bodies.setdefault(delivery.webhook_id, set()).add(delivery.body)
    assert sorted(events) == sorted(package_ids), "every build announced, and no other"
    assert all(len(ids) == 1 for ids in events.values()), {p: i for p, i in events.items() if len(i) > 1}
    assert all(len(copies) == 1 for copies in bodies.values()), "a repeat carries the same bytes"
    return len(hooks.deliveries) - len(bodies)


def lifecycle_lines(worker: ManagedProcess) -> tuple[int, int]:
    """How often the worker's ``on_startup`` and ``on_shutdown`` ran (app/worker/settings.py)."""
    log = worker.log()
    return log.count('"worker started'), log.count('"worker stopped"')


async def outage_noticed(worker: ManagedProcess) -> None:
    async def noticed() -> bool:
        return "status polling waits for redis" in worker.log()

    await wait_until(noticed, what="the worker noticing the outage")


async def worker_ended(worker: ManagedProcess) -> None:
    async def ended() -> bool:
        return "the arq worker ended on" in worker.log()

    await wait_until(ended, what="the arq worker giving up on redis")


@pytest.mark.parametrize("launcher", sorted(WORKER_LAUNCHERS))
async def test_a_redis_restart_loses_no_event_under_either_launcher(launcher, bff_env, sim, hooks, partner):
    """Redis SIGKILLed between deliveries, builds finishing while it is away, restarted on
    the same port: every build is announced once, and the worker process never exits."""
    with deployed(bff_env, launcher) as deployment:
        async with partner_client(deployment, partner) as client:
            await register_webhook(client, hooks.url, ["package.done"])
            packages = [(await make_package(sim, partner, "INPROGRESS"))["id"] for _ in range(9)]
            for package_id in packages:
                await watch(client, package_id)
            before, during, after = packages[:3], packages[3:6], packages[6:]
            for package_id in before:
                await force_status(sim, package_id, "DONE")
            await delivered(hooks, before)

            deployment.redis.kill()
            for package_id in during:
                await force_status(sim, package_id, "DONE")
            await outage_noticed(deployment.worker)
            deployment.redis.start()
            await delivered(hooks, before + during)
            for package_id in after:
                await force_status(sim, package_id, "DONE")
            await delivered(hooks, packages)

        assert deployment.worker.process is not None and deployment.worker.process.poll() is None
        assert_each_build_announced_once(hooks, packages)


@pytest.mark.timeout(400)
async def test_five_redis_restarts_while_builds_finish_lose_no_event(bff_env, sim, hooks, partner):
    """Builds are watched and finish all along while Redis is restarted five times, by
    SIGTERM and by SIGKILL in turn, each time with events on their way; one outage lasts
    until the arq Worker gives up and a fresh one takes over. Every build is announced
    once; every Worker the process started was shut down (its poll loop and clients
    closed), and the process itself never exited."""
    with deployed(bff_env, "python -m app worker") as deployment:
        async with partner_client(deployment, partner) as client:
            await register_webhook(client, hooks.url, ["package.done"])
            watched: list[str] = []
            producing = True

            async def produce() -> None:
                while producing:
                    package_id = (await make_package(sim, partner, "INPROGRESS"))["id"]
                    await watch(client, package_id)
                    watched.append(package_id)
                    await force_status(sim, package_id, "DONE")
                    await asyncio.sleep(0.05)  # pacing: a steady trickle of builds

            async def flowing(more: int) -> None:
                """Until ``more`` further events arrived: events are on their way."""
                target = len(announced(hooks)) + more

                async def arrived() -> bool:
                    return len(announced(hooks)) >= target

                await wait_until(arrived, deadline_s=120, what=f"{more} more events")

            producer = asyncio.create_task(produce())
            restarted = time.monotonic()
            try:
                for restart in range(5):
                    await flowing(5)
                    if restart == 2:  # long enough for the arq Worker's own retries to give up
                        deployment.redis.kill()
                        await worker_ended(deployment.worker)
                        deployment.redis.start()
                    elif restart % 2:
                        deployment.redis.kill()
                        deployment.redis.start()
                    else:
                        deployment.redis.restart()
                    restarted = time.monotonic()
                await flowing(5)
            finally:
                producing = False
                await producer
            # Enqueues that Redis dropped mid-restart are picked up by the minutely sweep
            # once their grace (30 s) has passed: the deadline allows for both.
            await delivered(hooks, watched, deadline_s=150)
            last_delivered_s = time.monotonic() - restarted

        worker = deployment.worker
        assert worker.process is not None and worker.process.poll() is None, "the worker never exited"
        assert worker.stop() == 0, worker.log()[-3000:]
        started, stopped = lifecycle_lines(worker)
        assert started == stopped >= 2, (started, stopped)
        repeats = assert_each_build_announced_once(hooks, watched)
    fresh_workers = started - 1
    print(
        f"\n{len(watched)} builds announced, {repeats} repeated deliveries; {fresh_workers} fresh "
        f"arq worker(s); the last event arrived {last_delivered_s:.1f} s after the last restart"
    )


async def test_sigterm_while_redis_is_down_ends_the_worker_promptly(bff_env):
    """A SIGTERM during an outage ends ``python -m app worker``, cleanly and soon, and no
    fresh arq Worker starts after it."""
    with deployed(bff_env, "python -m app worker") as deployment:
        worker = deployment.worker

        async def running() -> bool:
            return lifecycle_lines(worker)[0] == 1

        await wait_until(running, what="the worker started")
        deployment.redis.stop()
        await outage_noticed(worker)
        log_before = len(worker.log())
        signalled = time.monotonic()
        code = worker.stop()
        took_s = time.monotonic() - signalled
        after_signal = worker.log()[log_before:]
        assert code == 0, worker.log()[-3000:]
        assert took_s < 12, took_s  # arq's shutdown tries Redis for its ~5 s of retries
        assert "Starting worker" not in after_signal, after_signal
        started, stopped = lifecycle_lines(worker)
        assert started == stopped, (started, stopped)
    print(f"\nthe worker ended {took_s:.1f} s after SIGTERM")
