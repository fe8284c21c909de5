"""Redis stopped, restarted or SIGKILLed under the running API and worker: 503 problem+json,
never 500, and recovery without a restart of any process; drafts, idempotency records,
watches and deliveries survive (AOF), and every build's event reaches the partner."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.builds.support import WebhookReceiver, register_webhook, wait_until
from tests.conftest import make_token
from tests.support.processes import ApiServer, ManagedProcess, RedisServer, api_and_worker, free_port
from tests.support.sim import force_status, make_package, upstream_calls

CREATE = {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"}
UPDATE = {"attribution_window_days": 30, "model": "ALL_EVENTS", "email_sent_date": None}


def bring_back(redis_server: RedisServer) -> None:
    """Redis up again for the rest of the suite, whatever the test did."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()


async def until_answered(api: httpx.AsyncClient, method: str, url: str, **kwargs) -> httpx.Response:
    """Retry while the API still answers 503 (stale pooled connections); anything else ends it."""
    deadline = time.monotonic() + 15
    while True:
        response = await api.request(method, url, **kwargs)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 503 and response.headers["Retry-After"]


async def test_without_redis_the_endpoints_that_need_it_answer_503(
    api, anonymous, sim, partner, redis_server, worker_process
):
    package = await make_package(sim, partner, "DONE")
    draft = await api.post("/v1/drafts", json={"step": "preview", "state": CREATE})
    draft_url = f"/v1/drafts/{draft.json()['id']}"
    redis_server.stop()
    try:
        readiness = await anonymous.get("/readyz")
        assert readiness.status_code == 503 and readiness.json()["checks"]["redis"] == "down"
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/v1/drafts", {"json": {"step": "events", "state": {}}}),
            ("GET", "/v1/drafts", {}),
            ("GET", draft_url, {}),
            ("PATCH", draft_url, {"json": {"step": "events"}, "headers": {"If-Match": '"v1"'}}),
            ("POST", f"{draft_url}/submit", {}),
            ("POST", "/v1/packages", {"json": CREATE, "headers": {"Idempotency-Key": str(uuid.uuid4())}}),
            ("POST", "/v1/packages", {"json": CREATE}),  # no key: still nothing upstream
            ("POST", "/v1/packages/merge", {"json": {"package_ids": [package["id"], "1"]}}),
            ("PUT", f"/v1/packages/{package['id']}/evaluation", {"json": UPDATE}),
        ]
        for method, url, kwargs in cases:
            assert_unavailable(await api.request(method, url, **kwargs))
        calls = await upstream_calls(sim, partner)
        assert not {"create_package", "merge_packages", "put_evaluation_details"} & calls.keys()
        # A cache is an optimisation: reads that only use one go to the upstream.
        assert (await api.get("/v1/packages")).status_code == 200  # watching builds is extra
        assert (await api.get(f"/v1/packages/{package['id']}/evaluation")).status_code == 200
        assert (await api.get(f"/v1/packages/{package['id']}")).status_code == 200
        assert (await api.get("/v1/events", params={"search": "munich"})).status_code == 200
    finally:
        bring_back(redis_server)
    recovered = await until_answered(api, "GET", draft_url)
    assert recovered.status_code == 200 and recovered.json()["state"] == CREATE
    assert (await until_answered(anonymous, "GET", "/readyz")).status_code == 200
    assert worker_process.process.poll() is None, "the worker rode out the outage"


async def test_after_a_redis_restart_drafts_and_keys_are_kept_and_requests_recover(
    api, sim, partner, redis_server, worker_process
):
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    created = await api.post("/v1/packages", json=CREATE, headers=headers)
    draft = await api.post("/v1/drafts", json={"step": "events", "state": {"title": "kept"}})
    try:
        redis_server.restart()
    finally:
        bring_back(redis_server)
    replayed = await until_answered(api, "POST", "/v1/packages", json=CREATE, headers=headers)
    assert replayed.status_code == 202 and replayed.json()["id"] == created.json()["id"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    kept = await until_answered(api, "GET", f"/v1/drafts/{draft.json()['id']}")
    assert kept.status_code == 200 and kept.json()["state"] == {"title": "kept"}
    fresh = await until_answered(api, "POST", "/v1/drafts", json={"step": "events", "state": {}})
    assert fresh.status_code == 201
    assert (await upstream_calls(sim, partner))["create_package"] == 1
    assert worker_process.process.poll() is None, "the worker rode out the restart"


async def delivered(hooks: WebhookReceiver, packages: list[dict], deadline_s: float = 60) -> None:
    """Until the partner has received the event of each of these builds."""
    expected = {package["id"] for package in packages}

    async def arrived() -> bool:
        return expected <= {d.payload()["data"]["package_id"] for d in hooks.deliveries}

    await wait_until(arrived, deadline_s=deadline_s, what="every event delivered")


@dataclass
class Deployment:
    redis: RedisServer
    api: ApiServer
    worker: ManagedProcess


@pytest.fixture
def deployment(bff_env: dict[str, str]) -> Iterator[Deployment]:
    """API and worker on a Redis of their own (AOF on), which the test may SIGKILL."""
    data_dir = Path(tempfile.mkdtemp(prefix="bff-redis-outage-"))
    redis_server = RedisServer(free_port(), data_dir).start()
    try:
        with api_and_worker("outage", {**bff_env, "BFF_REDIS_URL": redis_server.url}) as (api, worker):
            yield Deployment(redis_server, api, worker)
    finally:
        redis_server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookReceiver]:
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.stop()


async def keep_asking(client: httpx.AsyncClient, package_id: str, answers: list[int]) -> None:
    """Traffic during the outage: reads and writes, every answer's status kept."""
    while True:
        for method, url, body in (
            ("GET", f"/v1/packages/{package_id}/status", None),
            ("POST", "/v1/drafts", {"step": "events", "state": {}}),
        ):
            try:
                answers.append((await client.request(method, url, json=body)).status_code)
            except httpx.TransportError:
                answers.append(0)
        await asyncio.sleep(0.05)


async def test_redis_sigkilled_mid_traffic_loses_no_event_and_restarts_no_process(
    deployment, sim, hooks, partner
):
    """12 builds followed; Redis SIGKILLed and restarted on the same port while they finish
    and while requests keep coming: every event arrives, the API and worker never exit."""
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    client = httpx.AsyncClient(base_url=deployment.api.url, headers=headers, timeout=30)
    answers: list[int] = []
    traffic: asyncio.Task[None] | None = None
    try:
        await register_webhook(client, hooks.url, ["package.done", "package.failed"])
        packages = [await make_package(sim, partner, "INPROGRESS", progress=5) for _ in range(12)]
        for package in packages:
            response = await client.post(f"/v1/packages/{package['id']}/watch")
            assert response.status_code == 202, response.text
        before, during, after = packages[:3], packages[3:8], packages[8:]
        for package in before:
            await force_status(sim, package["id"], "DONE")
        await delivered(hooks, before)

        traffic = asyncio.create_task(keep_asking(client, packages[0]["id"], answers))
        deployment.redis.kill()
        for index, package in enumerate(during):
            await force_status(sim, package["id"], "FAILED" if index % 2 else "DONE")

        async def outage_noticed() -> bool:
            """By requests for a while, and by the worker: long enough for the arq Worker's
            own Redis retries to give up, so that a fresh one takes over (app/worker/run.py)."""
            return "the arq worker ended on" in deployment.worker.log() and answers.count(503) >= 10

        await wait_until(outage_noticed, what="the outage noticed")
        deployment.redis.start()
        restarted = time.monotonic()
        await delivered(hooks, before + during)
        recovery_s = time.monotonic() - restarted
        for package in after:
            await force_status(sim, package["id"], "DONE")
        await delivered(hooks, packages)
    finally:
        if traffic is not None:
            traffic.cancel()
        await client.aclose()

    webhook_ids: dict[str, set[str]] = {}
    for delivery in hooks.deliveries:  # at-least-once: a repeat carries the same webhook-id
        webhook_ids.setdefault(delivery.payload()["data"]["package_id"], set()).add(delivery.webhook_id)
    assert sorted(webhook_ids) == sorted(p["id"] for p in packages), "every build announced"
    assert all(len(ids) == 1 for ids in webhook_ids.values()), webhook_ids
    assert deployment.worker.process.poll() is None and deployment.api.process.poll() is None
    assert "redis is back" in deployment.worker.log()
    assert 503 in answers and set(answers) <= {200, 201, 503}, sorted(set(answers))
    print(f"\nevents of the outage delivered {recovery_s:.1f} s after Redis came back")
