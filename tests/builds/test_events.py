"""Terminal statuses become webhook deliveries exactly once per build: one worker, two
workers, a worker SIGKILLed with builds in flight. A local receiver is the partner."""

from __future__ import annotations

import sys

from tests.builds.support import polls, register_webhook, wait_until
from tests.support.sim import force_status, make_package
from tests.support.watches import watched

ALL_EVENTS = ["package.done", "package.failed", "package.expired"]


async def watch(papi, package_id: str) -> None:
    response = await papi.post(f"/v1/packages/{package_id}/watch")
    assert response.status_code == 202 and response.json()["watching"], response.text


async def watches_closed(store, partner: str) -> bool:
    return not await watched(store, partner)


async def test_each_terminal_status_reaches_the_partner_once(
    papi, sim, store, start_worker, receiver, partner
):
    endpoint = await register_webhook(papi, receiver.url, ALL_EVENTS)
    done = await make_package(
        sim,
        partner,
        "INPROGRESS",
        clusters=["family outings", "jazz"],
        customers_per_cluster=40,
        merge_id="1001_1002",
    )
    failed = await make_package(sim, partner, "INITIALIZING")
    expired = await make_package(sim, partner, "INPROGRESS")
    for package in (done, failed, expired):
        await watch(papi, package["id"])
    start_worker()
    await force_status(sim, done["id"], "DONE")
    await force_status(sim, failed["id"], "FAILED")
    await force_status(sim, expired["id"], "EXPIRED")

    await receiver.wait_for(3)
    await wait_until(lambda: watches_closed(store, partner), what="watches closed")
    payloads = {p["data"]["package_id"]: p for p in receiver.verified(endpoint["secret"])}
    assert len(receiver.deliveries) == 3 and len({d.webhook_id for d in receiver.deliveries}) == 3
    assert {pid: p["type"] for pid, p in payloads.items()} == {
        done["id"]: "package.done",
        failed["id"]: "package.failed",
        expired["id"]: "package.expired",
    }
    data = payloads[done["id"]]["data"]
    assert data["partner_id"] == partner and data["status"] == "DONE"
    assert data["title"] == done["title"]
    assert (data["merge_id"], data["merged_from"]) == ("1001_1002", ["1001", "1002"])
    assert sorted(c["tc"] for c in data["clusters"]) == ["family outings", "jazz"]
    assert all(c["customers"] == 40 and c["items"] > 0 for c in data["clusters"])
    assert data["results_url"].endswith(f"/v1/packages/{done['id']}")
    assert payloads[failed["id"]]["data"]["clusters"] == []


async def test_a_worker_started_by_arqs_own_cli_polls_and_announces_too(
    papi, sim, store, start_worker, receiver, partner
):
    """The documented alternative start, ``arq app.worker.WorkerSettings``: its start-up hook runs the poll
    loop as ``python -m app worker`` does (polling is no arq job)."""
    endpoint = await register_webhook(papi, receiver.url, ["package.done"])
    package = await make_package(sim, partner, "INPROGRESS")
    await watch(papi, package["id"])
    start_worker(command=[sys.executable, "-m", "arq", "app.worker.WorkerSettings"])
    await force_status(sim, package["id"], "DONE")
    await receiver.wait_for(1)
    await wait_until(lambda: watches_closed(store, partner), what="the watch closed")
    [payload] = receiver.verified(endpoint["secret"])
    assert (payload["type"], payload["data"]["package_id"]) == ("package.done", package["id"])


async def test_each_regenerated_build_is_announced_again(papi, sim, store, start_worker, receiver, partner):
    endpoint = await register_webhook(papi, receiver.url, ["package.done"])
    package = await make_package(sim, partner, "EXPIRED")
    start_worker()
    for build in (1, 2):
        response = await papi.post(f"/v1/packages/{package['id']}/regenerate")
        assert response.status_code == 202, response.text
        await force_status(sim, package["id"], "DONE")
        await receiver.wait_for(build)
        await wait_until(lambda: watches_closed(store, partner), what="watch closed")
        await force_status(sim, package["id"], "EXPIRED")
    payloads = receiver.verified(endpoint["secret"])
    assert [p["data"]["package_id"] for p in payloads] == [package["id"]] * 2
    assert len({d.webhook_id for d in receiver.deliveries}) == 2, "two builds, two events"


async def test_two_workers_deliver_each_event_once(papi, sim, store, start_worker, receiver, partner):
    await register_webhook(papi, receiver.url, ALL_EVENTS)
    packages = [await make_package(sim, partner, "INPROGRESS") for _ in range(10)]
    for package in packages:
        await watch(papi, package["id"])
    start_worker()
    start_worker()
    for index, package in enumerate(packages):
        await force_status(sim, package["id"], "DONE" if index % 2 else "FAILED")

    await receiver.wait_for(len(packages))
    await wait_until(lambda: watches_closed(store, partner), what="watches closed")
    ids = [d.payload()["data"]["package_id"] for d in receiver.deliveries]
    assert sorted(ids) == sorted(p["id"] for p in packages), "each package announced once"
    assert len({d.webhook_id for d in receiver.deliveries}) == len(packages)


async def test_sigkilled_worker_loses_no_event(papi, sim, store, start_worker, receiver, partner):
    """20 builds in flight, the worker killed without any cleanup, a new one started:
    every build's event still arrives, one webhook id per event."""
    await register_webhook(papi, receiver.url, ALL_EVENTS)
    packages = [await make_package(sim, partner, "INPROGRESS", progress=5) for _ in range(20)]
    for package in packages:
        await watch(papi, package["id"])
    first = start_worker()

    async def polled() -> bool:
        return await polls(store, partner) >= 2

    await wait_until(polled, what="the first worker polling")
    first.kill()
    for index, package in enumerate(packages):
        await force_status(sim, package["id"], "FAILED" if index % 4 == 0 else "DONE")
    assert len(await watched(store, partner)) == 20, "nothing was lost"

    start_worker()
    await receiver.wait_for(len(packages), timeout_s=90)
    await wait_until(lambda: watches_closed(store, partner), what="watches closed")
    ids = {d.payload()["data"]["package_id"] for d in receiver.deliveries}
    assert ids == {p["id"] for p in packages}
    assert len({d.webhook_id for d in receiver.deliveries}) == len(packages)
