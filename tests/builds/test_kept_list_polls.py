"""The worker's polls and the kept list: a status the worker observes shows in the list at
once, and a poll takes the kept rows rather than calling the list again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from app.kit.settings import Settings
from tests.builds.conftest import client_for
from tests.builds.support import polls, wait_until
from tests.support.processes import ApiServer
from tests.support.sim import force_status, make_package, upstream_calls

# Longer than any test: the kept list never refreshes by itself here, so only what the
# worker observes can change a row.
NEVER_S = "3600"
REFRESH_S = Settings().list_refresh_s


@pytest.fixture(scope="module")
def slow_refresh_api(private_env: dict[str, str]) -> Iterator[ApiServer]:
    api = ApiServer("api-kept-list", {**private_env, "BFF_LIST_REFRESH_S": NEVER_S}).start()
    yield api
    api.close()


async def test_a_status_the_worker_observes_is_listed_at_once(slow_refresh_api, sim, start_worker, partner):
    """A long history is polled by GET (cheaper than its list): the GET's status goes to the
    kept row at once, with no list call besides the first read's."""
    (
        await sim.post("/_sim/packages/bulk", json={"partner_id": partner, "count": 300, "status": "DONE"})
    ).raise_for_status()
    async with client_for(slow_refresh_api, partner) as api:
        building = (
            await api.post("/v1/packages", json={"title": "t", "event_ids": [1], "targeting_mode": "x"})
        ).json()
        assert (await api.get("/v1/packages", params={"limit": 1})).json()["items"][0]["id"] == building["id"]
        start_worker(BFF_LIST_REFRESH_S=NEVER_S)
        await force_status(sim, building["id"], "DONE")

        async def listed_done() -> bool:
            page = (await api.get("/v1/packages", params={"status": "DONE", "limit": 1})).json()
            return [item["id"] for item in page["items"]] == [building["id"]]

        await wait_until(listed_done, deadline_s=15, what="the DONE the worker saw, listed")
        rows = (await api.get("/v1/packages", params={"status": "INITIALIZING"})).json()["items"]
        assert building["id"] not in [item["id"] for item in rows]
    assert (await upstream_calls(sim, partner))["list_packages"] == 1, "the first read's call only"


async def test_a_watched_partner_whose_list_is_read_costs_one_list_call_per_interval(
    private_api, sim, start_worker, store, partner
):
    """The worker polls every 0.2 s; readers keep the list fresh, and the polls take the
    kept rows (or make the interval's one refresh themselves): readers and polls together
    call the list once per refresh interval, not once per poll."""
    package = await make_package(sim, partner, "INPROGRESS", progress=10)
    async with client_for(private_api, partner) as api:
        assert (await api.post(f"/v1/packages/{package['id']}/watch")).status_code == 202
        await api.get("/v1/packages")
        start_worker()

        async def polled() -> bool:
            return await polls(store, partner) >= 3

        await wait_until(polled, what="the worker polling the partner")
        calls_before, polls_before = await upstream_calls(sim, partner), await polls(store, partner)
        started = time.monotonic()
        while time.monotonic() - started < 3 * REFRESH_S:
            assert (await api.get("/v1/packages", params={"limit": 5})).status_code == 200
        elapsed = time.monotonic() - started
    calls = (await upstream_calls(sim, partner)).get("list_packages", 0) - calls_before.get(
        "list_packages", 0
    )
    assert await polls(store, partner) - polls_before >= 5
    assert calls <= elapsed / REFRESH_S + 1
