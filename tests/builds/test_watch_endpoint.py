"""``POST /v1/packages/{id}/watch`` and the watches that create, merge and regenerate open."""

from __future__ import annotations

import httpx

from app.kit import redis_keys
from tests.builds.support import wait_until
from tests.support.sim import make_package

BODY = {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"}


async def test_watch_of_a_package_created_elsewhere_opens_one_watch(api, sim, partner, redis):
    package = await make_package(sim, partner, "INPROGRESS", progress=30)
    first = await api.post(f"/v1/packages/{package['id']}/watch")
    again = await api.post(f"/v1/packages/{package['id']}/watch")
    assert first.status_code == again.status_code == 202
    view = first.json()
    assert view["id"] == package["id"]
    assert (view["status"], view["progress"], view["watching"]) == ("INPROGRESS", 30, True)
    assert httpx.URL(view["events_url"]).path == f"/v1/packages/{package['id']}/events"
    assert list(await redis.hkeys(redis_keys.watch_set(partner))) == [package["id"]]
    assert await redis.zscore(redis_keys.WATCH_PARTNERS, partner) is not None


async def test_watch_of_another_partners_package_is_404(api, sim, redis, partner):
    other = await make_package(sim, "p-someone-else", "INPROGRESS")
    response = await api.post(f"/v1/packages/{other['id']}/watch")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert not await redis.exists(redis_keys.watch_set(partner))


async def test_create_records_the_watch_before_answering(api, partner, redis):
    response = await api.post("/v1/packages", json=BODY)
    assert response.status_code == 202, response.text
    watch = await redis.hget(redis_keys.watch_set(partner), response.json()["id"])
    assert watch is not None and '"reason":"create"' in watch.replace(" ", "")


async def test_a_build_already_announced_is_not_watched_again(api, sim, partner, redis, worker_process):
    package = await make_package(sim, partner, "DONE")
    assert (await api.post(f"/v1/packages/{package['id']}/watch")).json()["watching"] is True

    async def closed() -> bool:
        return not await redis.hexists(redis_keys.watch_set(partner), package["id"])

    await wait_until(closed, what="the worker announcing DONE and closing the watch")
    marker = redis_keys.emitted_event(partner, package["id"], "DONE", "0")
    assert await redis.exists(marker)
    again = await api.post(f"/v1/packages/{package['id']}/watch")
    assert again.status_code == 202 and again.json()["watching"] is False
    assert await closed()
