"""A build the list shows in progress is watched, whoever started it."""

from __future__ import annotations

import json

from app.kit import redis_keys
from tests.builds.support import wait_until
from tests.support.sim import force_status, make_package


async def test_listing_a_build_started_elsewhere_watches_it_to_the_end(
    api, sim, partner, redis, worker_process
):
    elsewhere = await make_package(sim, partner, "INPROGRESS", progress=30)
    finished = await make_package(sim, partner, "DONE")
    assert (await api.get("/v1/packages")).status_code == 200
    watched = await redis.hkeys(redis_keys.watch_set(partner))
    assert watched == [elsewhere["id"]]  # the DONE one needs no watch
    assert finished["id"] not in watched

    await force_status(sim, elsewhere["id"], "DONE")

    async def closed() -> bool:
        return not await redis.hexists(redis_keys.watch_set(partner), elsewhere["id"])

    await wait_until(closed, what="the watch closing after DONE")
    last_seen = json.loads(await redis.get(redis_keys.package_status(partner, elsewhere["id"])))
    assert last_seen["status"] == "DONE"
