"""The worker's /metrics (BFF_WORKER_METRICS_PORT): polls, list calls, open watches, detection
lag, webhook attempts and queue depth, with bounded labels; served from start to shutdown."""

from __future__ import annotations

import httpx
import pytest

from tests.builds.support import register_webhook, wait_until
from tests.builds.test_events import watch, watches_closed
from tests.support.metrics import leaks, samples, value
from tests.support.processes import free_port
from tests.support.sim import force_status, make_package


async def test_worker_metrics_follow_builds_from_watch_to_webhook(
    papi, sim, store, start_worker, receiver, partner
):
    await register_webhook(papi, receiver.url, ["package.done", "package.failed"])
    packages = [await make_package(sim, partner, "INPROGRESS", progress=10) for _ in range(3)]
    for package in packages:
        await watch(papi, package["id"])
    port = free_port()
    worker = start_worker(BFF_WORKER_METRICS_PORT=str(port), BFF_WORKER_METRICS_HOST="127.0.0.1")
    url = f"http://127.0.0.1:{port}/metrics"

    async with httpx.AsyncClient(timeout=5) as client:

        async def scraped() -> dict:
            try:
                return samples((await client.get(url)).text)
            except httpx.TransportError:
                return {}

        async def sampled_watches() -> bool:  # the sampler reads Redis when it starts
            return value(await scraped(), "bff_watches_open") >= len(packages)

        await wait_until(sampled_watches, what="open watches sampled")
        for index, package in enumerate(packages):
            await force_status(sim, package["id"], "FAILED" if index == 0 else "DONE")
        await receiver.wait_for(len(packages))
        await wait_until(lambda: watches_closed(store, partner), what="watches closed")

        async def attempts_counted() -> bool:
            return value(await scraped(), "bff_webhook_attempts_total", outcome="succeeded") >= len(packages)

        await wait_until(attempts_counted, what="webhook attempts counted")
        text = (await client.get(url)).text
    metrics = samples(text)
    assert value(metrics, "bff_watch_polls_total") >= 1
    list_calls = value(
        metrics,
        "bff_upstream_requests_total",
        route="/package_builder/packages/",
        method="GET",
        status_class="2xx",
    )
    assert list_calls >= 1
    assert value(metrics, "bff_watch_detection_lag_seconds_count") == len(packages)
    assert value(metrics, "bff_webhook_attempt_duration_seconds_count", outcome="succeeded") >= len(packages)
    assert ("bff_queue_jobs", frozenset({("state", "due")})) in metrics
    assert value(metrics, "bff_worker_redis_up") == 1
    assert not leaks(text, partner, *(package["id"] for package in packages))

    assert worker.stop() == 0
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.TransportError):  # stopped with the worker, not left behind
            await client.get(url)
