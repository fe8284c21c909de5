"""``GET /v1/packages/{id}/status``: from the upstream, or from the worker's last poll.

The worker's poll is simulated by the calls a poll makes (watch, status record, the time
its last complete poll began), so that freshness is exact whatever the machine's load.
"""

from __future__ import annotations

from app.builds.registry import WatchRegistry
from app.builds.schedule import PollSchedule
from app.builds.statuses import Observation, StatusStore
from tests.support.sim import make_package, upstream_calls


async def polled_just_now(redis, partner: str, package_id: str, status: str, progress: int) -> None:
    """What a complete poll of the partner leaves behind, as of now (Redis clock)."""
    await WatchRegistry(redis).open(partner, package_id, reason="create")
    seconds, micros = await redis.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    await StatusStore(redis).observe(partner, Observation(package_id, status, progress, now_ms))
    await PollSchedule(redis).record_outcome(partner, complete_at_ms=now_ms + 1)


async def test_status_of_a_build_nobody_watches_comes_from_the_upstream(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS", progress=40)
    response = await api.get(f"/v1/packages/{package['id']}/status")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "status", "progress")} == {
        "id": package["id"], "status": "INPROGRESS", "progress": 40
    }  # fmt: skip
    assert "/events?" in body["events_url"] and "sig=" in body["events_url"]
    assert "age" not in response.headers
    assert (await upstream_calls(sim, partner))["get_package"] == 1


async def test_a_build_polled_less_than_an_interval_ago_is_answered_from_that_poll(api, sim, partner, redis):
    package = await make_package(sim, partner, "INPROGRESS", progress=40)
    await polled_just_now(redis, partner, package["id"], "INPROGRESS", 70)
    response = await api.get(f"/v1/packages/{package['id']}/status")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["progress"]) == (package["id"], "INPROGRESS", 70)
    assert "sig=" in body["events_url"]
    assert response.headers["age"] == "0"
    assert "get_package" not in await upstream_calls(sim, partner)


async def test_a_stale_poll_sends_the_status_check_upstream(api, sim, partner, redis):
    package = await make_package(sim, partner, "INPROGRESS", progress=40)
    await polled_just_now(redis, partner, package["id"], "INPROGRESS", 70)
    await PollSchedule(redis).record_outcome(partner, complete_at_ms=1000)  # long ago
    response = await api.get(f"/v1/packages/{package['id']}/status")
    assert response.json()["progress"] == 40
    assert "age" not in response.headers


async def test_unknown_ids_and_other_partners_packages_are_still_404_from_the_upstream(
    api, sim, partner, redis
):
    other = "p-other-" + partner
    theirs = await make_package(sim, other, "INPROGRESS", progress=40)
    await polled_just_now(redis, other, theirs["id"], "INPROGRESS", 70)
    assert (await api.get(f"/v1/packages/{theirs['id']}/status")).status_code == 404
    assert (await api.get("/v1/packages/987654321/status")).status_code == 404
    assert (await upstream_calls(sim, partner))["get_package"] == 2
