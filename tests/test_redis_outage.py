"""Redis stopped and restarted under the running API: 503 problem+json, never 500, and
recovery without a restart of the API; drafts and idempotency records survive (AOF)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import ManagedProcess, RedisServer
from tests.support.sim import make_package, upstream_calls

CREATE = {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"}
UPDATE = {"attribution_window_days": 30, "model": "ALL_EVENTS", "email_sent_date": None}


@pytest.fixture
def api_only(worker_process: ManagedProcess) -> Iterator[None]:
    """The worker is stopped while these tests take Redis away (arq's worker exits when Redis
    drops, python-arq/arq#435) and started again after, for the tests that follow."""
    worker_process.stop()
    try:
        yield
    finally:
        worker_process.start()


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
    api, anonymous, sim, partner, redis_server, api_only
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


async def test_after_a_redis_restart_drafts_and_keys_are_kept_and_requests_recover(
    api, sim, partner, redis_server, api_only
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
