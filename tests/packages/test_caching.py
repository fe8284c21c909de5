"""Caches in Redis, counted on the simulator: evaluation, DONE results pages, event search."""

from __future__ import annotations

import asyncio
import time

import httpx

from app.catalog import keys as catalog_keys
from app.kit.cache import cache_lock
from app.kit.settings import Settings
from app.packages import keys as package_keys
from tests.conftest import make_token
from tests.support.sim import add_fault, force_status, make_package, upstream_calls

UPDATE = {"attribution_window_days": 30, "model": "ALL_EVENTS", "email_sent_date": "2026-06-01"}


async def test_evaluation_is_fetched_once_then_served_from_the_cache(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = f"/v1/packages/{package['id']}/evaluation"
    first, second = await api.get(url), await api.get(url)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    calls = await upstream_calls(sim, partner)
    assert calls["get_evaluation"] == calls["get_evaluation_details"] == 1


async def test_a_cold_evaluation_under_many_readers_is_one_upstream_call(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    await add_fault(sim, "get_evaluation", partner, mode="delay", latency_ms=300)
    url = f"/v1/packages/{package['id']}/evaluation"
    responses = await asyncio.gather(*(api.get(url) for _ in range(25)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    calls = await upstream_calls(sim, partner)
    assert calls["get_evaluation"] == calls["get_evaluation_details"] == 1


async def test_a_cold_evaluation_read_through_two_replicas_is_one_upstream_call(api, replica, sim, partner):
    package = await make_package(sim, partner, "DONE")
    await add_fault(sim, "get_evaluation", partner, mode="delay", latency_ms=300)
    url = f"/v1/packages/{package['id']}/evaluation"
    responses = await asyncio.gather(*(client.get(url) for client in [api, replica] * 10))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    calls = await upstream_calls(sim, partner)
    assert calls["get_evaluation"] == calls["get_evaluation_details"] == 1


async def test_put_invalidates_and_returns_the_fresh_evaluation(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = f"/v1/packages/{package['id']}/evaluation"
    before = (await api.get(url)).json()
    updated = await api.put(url, json=UPDATE)
    assert updated.status_code == 200
    assert updated.json()["settings"] == UPDATE
    assert updated.json()["clusters"] != before["clusters"]
    assert (await api.get(url)).json() == updated.json()
    calls = await upstream_calls(sim, partner)
    assert calls["put_evaluation_details"] == 1
    assert calls["get_evaluation"] == 2  # the first read and the PUT's fresh read, no more


async def test_a_read_in_flight_during_a_put_never_caches_the_old_evaluation(api, sim, partner, redis):
    package = await make_package(sim, partner, "DONE")
    await add_fault(sim, "get_evaluation", partner, mode="delay", latency_ms=600, count=1)
    url = f"/v1/packages/{package['id']}/evaluation"
    slow_read = asyncio.ensure_future(api.get(url))
    lock = cache_lock(package_keys.evaluation_cache(partner, package["id"]))  # storage: the fill holds it
    deadline = time.monotonic() + 5
    while not await redis.exists(lock):
        assert time.monotonic() < deadline and not slow_read.done()
        await asyncio.sleep(0.01)
    updated = await api.put(url, json=UPDATE)
    assert updated.status_code == 200 and updated.json()["settings"] == UPDATE
    assert (await slow_read).status_code == 200
    assert (await api.get(url)).json()["settings"] == UPDATE


async def test_a_failed_evaluation_read_is_not_cached(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    await add_fault(sim, "get_evaluation", partner, status=503, count=2)
    url = f"/v1/packages/{package['id']}/evaluation"
    assert (await api.get(url)).status_code == 502
    assert (await api.get(url)).status_code == 200


async def test_a_done_results_page_is_cached_until_regenerate(api, sim, partner):
    package = await make_package(sim, partner, "DONE", clusters=["families"])
    url = f"/v1/packages/{package['id']}"
    first, second = await api.get(url), await api.get(url)
    assert second.json() == first.json() and first.json()["status"] == "DONE"
    assert (await upstream_calls(sim, partner))["get_package"] == 1
    await force_status(sim, package["id"], "EXPIRED")
    regenerated = await api.post(f"{url}/regenerate")
    assert regenerated.status_code == 202
    after = (await api.get(url)).json()
    assert after["status"] == "INITIALIZING" and after["clusters"] == []
    assert (await upstream_calls(sim, partner))["get_package"] == 3  # regenerate checks too


async def test_a_building_package_is_never_served_from_the_cache(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS", progress=40)
    url = f"/v1/packages/{package['id']}"
    assert (await api.get(url)).json()["progress"] == 40
    await force_status(sim, package["id"], "INPROGRESS", progress=70)
    assert (await api.get(url)).json()["progress"] == 70
    assert (await upstream_calls(sim, partner))["get_package"] == 2


async def test_new_evaluation_settings_reach_the_cached_results_page(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = f"/v1/packages/{package['id']}"
    assert (await api.get(url)).json()["evaluation_settings"]["model"] == "EVENTS_FROM_PACKAGE"
    assert (await api.put(f"{url}/evaluation", json=UPDATE)).status_code == 200
    assert (await api.get(url)).json()["evaluation_settings"] == UPDATE


async def test_a_cached_page_is_never_served_to_another_partner(api, api_server, sim, partner):
    package = await make_package(sim, partner, "DONE")
    assert (await api.get(f"/v1/packages/{package['id']}")).status_code == 200
    other = partner + "-b"
    headers = {
        "Authorization": f"Bearer {make_token(partners=[partner, other])}",
        "X-Preferred-Partner-Id": other,
    }
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers) as client:
        assert (await client.get(f"/v1/packages/{package['id']}")).status_code == 404
        assert (await client.get(f"/v1/packages/{package['id']}/evaluation")).status_code == 404


async def test_event_search_is_cached_briefly_per_partner_and_query(api, api_server, sim, partner, redis):
    params: dict[str, str | int] = {"search": "munich", "page": 1}
    first, second = await api.get("/v1/events", params=params), await api.get("/v1/events", params=params)
    assert second.json() == first.json()
    assert (await upstream_calls(sim, partner))["search_events"] == 1
    await api.get("/v1/events", params={"search": "munich", "page": 2})
    assert (await upstream_calls(sim, partner))["search_events"] == 2
    # checks storage: one entry per query, and the TTL is the contract
    keys = [k async for k in redis.scan_iter(catalog_keys.events_cache(partner, "*"))]
    assert len(keys) == 2
    for cache_key in keys:
        assert 0 < await redis.ttl(cache_key) <= Settings().events_cache_ttl_s
    other = partner + "-b"
    headers = {"Authorization": f"Bearer {make_token(partners=[other])}", "X-Preferred-Partner-Id": other}
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers) as client:
        assert (await client.get("/v1/events", params=params)).status_code == 200
    assert (await upstream_calls(sim, other))["search_events"] == 1


async def test_a_cached_results_view_keeps_its_etag_and_answers_if_none_match_with_304(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = f"/v1/packages/{package['id']}"
    first, second = await api.get(url), await api.get(url)
    assert first.status_code == second.status_code == 200
    assert first.headers["etag"] == second.headers["etag"]
    assert first.content == second.content
    unchanged = await api.get(url, headers={"If-None-Match": f'W/"x", {first.headers["etag"]}'})
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == first.headers["etag"]
    assert unchanged.content == b""
    assert (await api.get(url, headers={"If-None-Match": '"other"'})).status_code == 200
    assert (await upstream_calls(sim, partner))["get_package"] == 1


async def test_new_evaluation_settings_give_the_results_view_a_new_etag(api, sim, partner):
    package = await make_package(sim, partner, "DONE")
    url = f"/v1/packages/{package['id']}"
    before = await api.get(url)
    assert (await api.put(f"{url}/evaluation", json=UPDATE)).status_code == 200
    after = await api.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]


async def test_a_results_view_is_cached_for_ten_minutes_at_most(api, sim, partner, redis):
    package = await make_package(sim, partner, "DONE")
    assert (await api.get(f"/v1/packages/{package['id']}")).status_code == 200
    ttl = await redis.ttl(package_keys.package_view_cache(partner, package["id"]))  # checks storage: the TTL
    assert 0 < ttl <= 600
