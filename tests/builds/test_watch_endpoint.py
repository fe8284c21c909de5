"""``POST /v1/packages/{id}/watch`` and the watches that create, merge and regenerate open."""

from __future__ import annotations

import httpx

from app.builds import keys as build_keys
from app.builds.registry import WatchRegistry
from tests.builds.support import wait_until
from tests.support.sim import make_package
from tests.support.watches import watched

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
    assert await watched(redis, partner) == [package["id"]]
    # checks storage: the partner is on the poll schedule, which only the poll loop reads
    assert await redis.zscore(build_keys.WATCH_PARTNERS, partner) is not None


async def test_watch_of_another_partners_package_is_404(api, sim, redis, partner):
    other = await make_package(sim, "p-someone-else", "INPROGRESS")
    response = await api.post(f"/v1/packages/{other['id']}/watch")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await watched(redis, partner) == []


async def test_create_records_the_watch_before_answering(api, partner, redis):
    response = await api.post("/v1/packages", json=BODY)
    assert response.status_code == 202, response.text
    [watch] = [
        w for w in await WatchRegistry(redis).watches(partner) if w.package_id == response.json()["id"]
    ]
    assert watch.reason == "create"


async def test_a_build_already_announced_is_not_watched_again(api, sim, partner, redis, worker_process):
    package = await make_package(sim, partner, "DONE")
    assert (await api.post(f"/v1/packages/{package['id']}/watch")).json()["watching"] is True

    async def closed() -> bool:
        return package["id"] not in await watched(redis, partner)

    await wait_until(closed, what="the worker announcing DONE and closing the watch")
    # checks storage: the set-once marker is what keeps a build from being announced twice
    marker = build_keys.emitted_event(partner, package["id"], "DONE", "0")
    assert await redis.exists(marker)
    again = await api.post(f"/v1/packages/{package['id']}/watch")
    assert again.status_code == 202 and again.json()["watching"] is False
    assert await closed()
