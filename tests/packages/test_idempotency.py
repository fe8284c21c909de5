"""Idempotency-Key on create, merge and regenerate: one upstream action per key, replays after."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from app.idempotency import keys as idempotency_keys
from tests.conftest import make_token
from tests.support.sim import add_fault, make_package, upstream_calls

BODY = {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_retry_with_the_same_key_replays_the_first_answer(api, sim, partner):
    headers = key()
    first = await api.post("/v1/packages", json=BODY, headers=headers)
    retry = await api.post("/v1/packages", json=BODY, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Retry-After"] == first.headers["Retry-After"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_without_a_key_every_post_creates(api, sim, partner):
    for _ in range(2):
        assert (await api.post("/v1/packages", json=BODY)).status_code == 202
    assert (await upstream_calls(sim, partner))["create_package"] == 2


async def test_the_same_key_with_another_body_is_422(api, sim, partner):
    headers = key()
    assert (await api.post("/v1/packages", json=BODY, headers=headers)).status_code == 202
    other = await api.post("/v1/packages", json={**BODY, "title": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in other.json()["detail"]
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_bodies_that_mean_the_same_match(api, sim, partner):
    headers = key()
    first = await api.post("/v1/packages", json=BODY, headers=headers)
    spelled_out = {**BODY, "event_ids": ["12345"], "num_packages": 3, "n_top_events": 3}
    retry = await api.post("/v1/packages", json=spelled_out, headers=headers)
    assert retry.status_code == 202 and retry.json()["id"] == first.json()["id"]


async def test_concurrent_requests_with_one_key_make_one_package(api, sim, partner):
    await add_fault(sim, "create_package", partner, mode="delay", latency_ms=500)
    headers = key()
    responses = await asyncio.gather(
        *(api.post("/v1/packages", json=BODY, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_a_retry_on_another_replica_waits_or_gets_409_never_a_second_create(
    api, replica, sim, partner, redis
):
    await add_fault(sim, "create_package", partner, mode="delay", latency_ms=1000)
    headers = key()
    first = asyncio.ensure_future(api.post("/v1/packages", json=BODY, headers=headers))
    # reads storage: the first request holds its key in flight, which only Redis shows
    marker = idempotency_keys.idempotency_in_flight(partner, "user-1", "create", headers["Idempotency-Key"])
    deadline = time.monotonic() + 5
    while not await redis.exists(marker):
        assert time.monotonic() < deadline and not first.done()
        await asyncio.sleep(0.01)
    busy = await replica.post("/v1/packages", json=BODY, headers=headers)
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
    assert busy.headers["content-type"].startswith("application/problem+json")
    created = await first
    assert created.status_code == 202
    replayed = await replica.post("/v1/packages", json=BODY, headers=headers)
    assert replayed.status_code == 202 and replayed.json()["id"] == created.json()["id"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert (await upstream_calls(sim, partner))["create_package"] == 1


async def test_a_failed_first_attempt_is_not_kept_so_a_retry_can_succeed(api, sim, partner):
    await add_fault(sim, "create_package", partner, status=503, count=1)
    headers = key()
    assert (await api.post("/v1/packages", json=BODY, headers=headers)).status_code == 502
    retry = await api.post("/v1/packages", json=BODY, headers=headers)
    assert retry.status_code == 202 and "Idempotent-Replayed" not in retry.headers
    assert (await upstream_calls(sim, partner))["create_package"] == 2


async def test_keys_are_per_partner(api, api_server, sim, partner):
    headers = key()
    mine = await api.post("/v1/packages", json=BODY, headers=headers)
    other = partner + "-b"
    auth = {
        "Authorization": f"Bearer {make_token(partners=[other])}",
        "X-Preferred-Partner-Id": other,
        **headers,
    }
    async with httpx.AsyncClient(base_url=api_server.url, headers=auth) as client:
        theirs = await client.post("/v1/packages", json=BODY)
    assert theirs.status_code == 202 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert (await upstream_calls(sim, other))["create_package"] == 1


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there", "ünïcode"])
async def test_a_malformed_key_is_400(api, sim, partner, value):
    response = await api.post("/v1/packages", json=BODY, headers={"Idempotency-Key": value.encode()})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert (await upstream_calls(sim, partner)).get("create_package", 0) == 0


async def test_merge_with_a_key_merges_once(api, sim, partner):
    one = await make_package(sim, partner, "DONE")
    two = await make_package(sim, partner, "DONE")
    body = {"package_ids": [one["id"], two["id"]]}
    headers = key()
    first = await api.post("/v1/packages/merge", json=body, headers=headers)
    retry = await api.post("/v1/packages/merge", json=body, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (await upstream_calls(sim, partner))["merge_packages"] == 1


async def test_regenerate_with_a_key_replays_instead_of_409(api, sim, partner):
    package = await make_package(sim, partner, "EXPIRED")
    url = f"/v1/packages/{package['id']}/regenerate"
    headers = key()
    first = await api.post(url, headers=headers)
    retry = await api.post(url, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (await api.post(url)).status_code == 409  # no key: the package is building now
    assert (await upstream_calls(sim, partner))["regenerate_package"] == 1


async def test_a_key_is_not_shared_between_packages(api, sim, partner):
    one = await make_package(sim, partner, "EXPIRED")
    two = await make_package(sim, partner, "EXPIRED")
    headers = key()
    assert (await api.post(f"/v1/packages/{one['id']}/regenerate", headers=headers)).status_code == 202
    reused = await api.post(f"/v1/packages/{two['id']}/regenerate", headers=headers)
    assert reused.status_code == 422
