"""A build the list shows in progress is watched, whoever started it."""

from __future__ import annotations

from app.builds.statuses import StatusStore
from tests.builds.support import wait_until
from tests.support.sim import force_status, make_package
from tests.support.watches import watched


async def test_listing_a_build_started_elsewhere_watches_it_to_the_end(
    api, sim, partner, redis, worker_process
):
    elsewhere = await make_package(sim, partner, "INPROGRESS", progress=30)
    finished = await make_package(sim, partner, "DONE")
    assert (await api.get("/v1/packages")).status_code == 200
    watching = await watched(redis, partner)
    assert watching == [elsewhere["id"]]  # the DONE one needs no watch
    assert finished["id"] not in watching

    await force_status(sim, elsewhere["id"], "DONE")

    async def closed() -> bool:
        return elsewhere["id"] not in await watched(redis, partner)

    await wait_until(closed, what="the watch closing after DONE")
    last_seen = await StatusStore(redis).get(partner, elsewhere["id"])
    assert last_seen is not None and last_seen.status == "DONE"
