"""The poller's cost and bookkeeping, on the private deployment (its own workers only)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from app.builds import keys as build_keys
from app.builds.poller import DEFAULT_GET_BYTES, Step, next_step
from app.builds.registry import Watch, WatchRegistry
from app.builds.schedule import PollHistory, PollSchedule
from app.kit.keyspace import PREFIX, partner_part
from app.upstream.models import PackageHead
from tests.builds.conftest import client_for
from tests.builds.support import polls, wait_until
from tests.support.metrics import samples, value
from tests.support.processes import free_port
from tests.support.sim import force_status, make_package, upstream_calls
from tests.support.watches import watched

POLLS_TO_OBSERVE = 5


async def open_watches(api, sim, partner: str, count: int) -> list[str]:
    ids = []
    async with client_for(api, partner) as client:
        for _ in range(count):
            package = await make_package(sim, partner, "INPROGRESS", progress=10)
            response = await client.post(f"/v1/packages/{package['id']}/watch")
            assert response.status_code == 202, response.text
            ids.append(package["id"])
    return ids


async def test_one_list_call_per_poll_covers_every_watch_of_a_partner(private_api, sim, store, start_worker):
    """1 watch and 20 watches cost the same: one list call per poll, no per-package GET.

    Counts are read with no worker running (a poll counts itself before its list call), and
    the builds end while none runs: the next poll sees them all ended at once. Ended one by
    one under a running worker, the last few would be polled by GET, which is then cheaper."""
    one, twenty = f"p-one-{uuid.uuid4().hex[:8]}", f"p-many-{uuid.uuid4().hex[:8]}"
    packages = {
        one: await open_watches(private_api, sim, one, 1),
        twenty: await open_watches(private_api, sim, twenty, 20),
    }
    before = {p: await upstream_calls(sim, p) for p in packages}
    worker = start_worker()

    async def polled_enough() -> bool:
        return all([await polls(store, p) >= POLLS_TO_OBSERVE for p in packages])

    await wait_until(polled_enough, what=f"{POLLS_TO_OBSERVE} polls of both partners")
    await asyncio.to_thread(worker.stop)  # the poll loop lets its running polls finish first
    running = {p: (await upstream_calls(sim, p), await polls(store, p)) for p in packages}
    for partner, (calls, polled) in running.items():
        assert calls.get("list_packages", 0) - before[partner].get("list_packages", 0) == polled
        assert polled >= POLLS_TO_OBSERVE
        assert calls.get("get_package", 0) == before[partner].get("get_package", 0)

    for ids in packages.values():
        for package_id in ids:
            await force_status(sim, package_id, "FAILED")
    start_worker()

    async def all_closed() -> bool:
        return not any([await watched(store, p) for p in packages])

    await wait_until(all_closed, what="every watch closed")
    for partner, (calls, polled) in running.items():
        after = await upstream_calls(sim, partner)
        list_calls = after.get("list_packages", 0) - calls.get("list_packages", 0)
        assert list_calls == await polls(store, partner) - polled >= 1
        assert after.get("get_package", 0) == calls.get("get_package", 0), "a FAILED build needs no GET"
        # checks storage: the partner left the poll schedule, which only the poll loop reads
        assert await store.zscore(build_keys.WATCH_PARTNERS, partner) is None


async def test_polls_spread_over_every_worker_and_a_partner_is_polled_by_one_at_a_time(
    private_api, sim, store, start_worker
):
    """Each worker runs the poll loop; the per-partner claim lets one of them poll a due
    partner. Two workers both poll, and together they poll no partner more often than its
    interval allows (a double claim would double the count)."""
    partners = [f"p-spread-{uuid.uuid4().hex[:8]}" for _ in range(8)]
    for partner in partners:
        await open_watches(private_api, sim, partner, 1)
    ports = [free_port(), free_port()]
    for port in ports:
        start_worker(BFF_WORKER_METRICS_PORT=str(port), BFF_WORKER_METRICS_HOST="127.0.0.1")
    async with httpx.AsyncClient(timeout=5) as client:

        async def polls_by(port: int) -> float:
            try:
                scraped = samples((await client.get(f"http://127.0.0.1:{port}/metrics")).text)
            except httpx.TransportError:
                return 0.0
            return value(scraped, "bff_watch_polls_total")

        async def both_polled() -> bool:
            return all([await polls_by(port) >= POLLS_TO_OBSERVE for port in ports])

        await wait_until(both_polled, what=f"{POLLS_TO_OBSERVE} polls by each of two workers")
    loop = asyncio.get_running_loop()
    started, before = loop.time(), {p: await polls(store, p) for p in partners}

    async def polled_often() -> bool:
        return all([await polls(store, p) - before[p] >= 10 for p in partners])

    await wait_until(polled_often, what="10 more polls of every partner")
    elapsed = loop.time() - started
    for partner in partners:  # interval 0.2 s (bff_env): at most one poll per interval
        assert await polls(store, partner) - before[partner] <= elapsed / 0.2 + 2


async def test_a_due_partner_is_claimed_once_and_not_again_before_its_interval(store, partner):
    schedule = PollSchedule(store)
    await WatchRegistry(store).open(partner, "1", reason="create")  # due now
    holders = [f"worker-{n}" for n in range(10)]
    claimed = await asyncio.gather(
        *(schedule.claim(partner, h, interval_s=60, lease_s=30, take_back=True) for h in holders)
    )
    [winner] = [h for h, won in zip(holders, claimed, strict=True) if won]
    await schedule.release(partner, winner)
    assert not await schedule.claim(partner, winner, interval_s=60, lease_s=30, take_back=True)  # in 60 s
    assert partner not in (await schedule.due(1000)).partners


async def test_a_lock_whose_release_was_lost_is_taken_back_by_its_holder_alone(store, partner):
    """Redis did not answer a release (a failover): the lock stays for its lease. Its holder,
    knowing none of its polls of the partner runs, takes it back at the next due time;
    another worker, or the holder while its poll still runs, waits."""
    schedule = PollSchedule(store)
    await WatchRegistry(store).open(partner, "1", reason="create")

    async def claim(holder: str, take_back: bool) -> bool:
        await store.zadd(build_keys.WATCH_PARTNERS, {partner: 0})  # due again (written in storage)
        return await schedule.claim(partner, holder, interval_s=0.2, lease_s=30, take_back=take_back)

    assert await claim("a", take_back=True)  # ...and its release never arrives
    assert not await claim("b", take_back=True)
    assert not await claim("a", take_back=False)
    assert await claim("a", take_back=True)
    assert await store.pttl(build_keys.watch_poll_lock(partner)) > 25_000  # checks storage: a fresh lease


# Sizes of the simulator's answers (bench/call_cost.py): a GET of a build in flight, and
# list calls of a partner with 100 and with 5,000 finished packages.
GET_BYTES, LIST_OF_100, LIST_OF_5000 = 515, 28_220, 1_343_443


def test_a_long_history_is_read_by_get_for_up_to_a_few_dozen_builds():
    history = PollHistory(list_bytes=LIST_OF_5000, get_bytes=GET_BYTES)
    assert history.prefers_gets(1, DEFAULT_GET_BYTES)
    assert history.prefers_gets(20, DEFAULT_GET_BYTES)
    assert not history.prefers_gets(30, DEFAULT_GET_BYTES)  # 30 calls cost more than the list


def test_a_short_list_is_read_whole():
    """100 packages listed: two GETs cost the worker 444 µs of CPU, the list 370 µs (counting
    calls by their bytes alone, nine GETs won). 300 packages: one GET wins."""
    assert not PollHistory(list_bytes=LIST_OF_100, get_bytes=GET_BYTES).prefers_gets(2, DEFAULT_GET_BYTES)
    assert not PollHistory(list_bytes=LIST_OF_100 // 2, get_bytes=GET_BYTES).prefers_gets(
        1, DEFAULT_GET_BYTES
    )
    assert PollHistory(list_bytes=3 * LIST_OF_100, get_bytes=GET_BYTES).prefers_gets(1, DEFAULT_GET_BYTES)


def test_the_list_is_read_until_its_size_is_known():
    assert not PollHistory(list_bytes=None, get_bytes=GET_BYTES).prefers_gets(1, DEFAULT_GET_BYTES)


async def test_a_long_history_with_one_build_in_flight_is_polled_by_one_get(
    private_api, sim, store, start_worker, partner
):
    """The list weighs 300 packages, one GET far less: after the first list call (which
    teaches the poller the list's size) each poll is one GET, and the FAILED build's
    event needs no other call."""
    bulk = {"partner_id": partner, "count": 300, "status": "DONE"}
    (await sim.post("/_sim/packages/bulk", json=bulk)).raise_for_status()
    [package_id] = await open_watches(private_api, sim, partner, 1)
    before = await upstream_calls(sim, partner)
    start_worker()

    async def polled_enough() -> bool:
        return await polls(store, partner) >= POLLS_TO_OBSERVE

    await wait_until(polled_enough, what=f"{POLLS_TO_OBSERVE} polls")
    await force_status(sim, package_id, "FAILED")

    async def closed() -> bool:
        return not await watched(store, partner)

    await wait_until(closed, what="the watch closed")
    after = await upstream_calls(sim, partner)
    list_calls = after.get("list_packages", 0) - before.get("list_packages", 0)
    gets = after.get("get_package", 0) - before.get("get_package", 0)
    assert list_calls == 1
    assert gets == await polls(store, partner) - 1
    # checks storage: the poll counters and the emitted marker are the only record of these
    stats = build_keys.watch_poll_stats(partner)
    assert int(await store.hget(stats, "polled_by_get")) == gets  # each GET was a poll
    assert await store.keys(build_keys.emitted_event(partner, package_id, "FAILED", "*"))


async def next_record(pubsub) -> dict:
    async with asyncio.timeout(10):
        async for message in pubsub.listen():
            if message["type"] == "message":
                return json.loads(message["data"])
    raise AssertionError("the subscription ended")


async def test_every_status_change_is_published_with_an_increasing_seq(
    private_api, sim, store, start_worker, partner
):
    [package_id] = await open_watches(private_api, sim, partner, 1)
    channel = build_keys.status_channel(partner, package_id)  # checks storage: channel and record
    async with store.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        start_worker()
        records: list[dict[str, Any]] = []
        for status, progress in (("INPROGRESS", 60), ("INPROGRESS", 90), ("DONE", None)):
            await force_status(sim, package_id, status, progress)
            while (
                not records
                or records[-1]["status"] != status
                or (progress is not None and records[-1]["progress"] != progress)
            ):
                records.append(await next_record(pubsub))
    assert [(r["status"], r["progress"]) for r in records][-3:] == [
        ("INPROGRESS", 60),
        ("INPROGRESS", 90),
        ("DONE", 100),
    ]
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(set(seqs))
    stored = json.loads(await store.get(build_keys.package_status(partner, package_id)))
    assert stored == records[-1]


async def test_a_watched_package_that_no_longer_exists_is_given_up(
    private_api, sim, store, start_worker, partner
):
    """Missing from the list a few times, then one GET: 404 closes the watch, no event."""
    await make_package(sim, partner, "DONE")  # the partner exists upstream
    registry = WatchRegistry(store)
    await registry.open(partner, "999999999", reason="create")
    start_worker()

    async def closed() -> bool:
        return "999999999" not in await watched(store, partner)

    await wait_until(closed, what="the watch of a vanished package closed")
    calls = await upstream_calls(sim, partner)
    assert calls.get("get_package", 0) == 1
    assert calls.get("list_packages", 0) >= 3
    assert not await store.keys(f"{PREFIX}:emitted:{partner_part(partner)}:*")  # checks storage: no marker


async def test_finishing_a_build_marks_its_event_once_and_closes_only_the_watch_it_read(store, partner):
    """``finish`` is the poller's last step: the marker is set once (a repeat after a crash
    reports it was already set), a watch replaced meanwhile (regenerate) stays open, and the
    partner leaves the schedule with its last watch. Checks storage: the marker and the
    schedule are what ``finish`` writes."""
    registry = WatchRegistry(store)
    await registry.open(partner, "1", reason="create")
    await registry.open(partner, "2", reason="create")
    first, second = sorted(await registry.watches(partner), key=lambda w: w.package_id)
    marker = build_keys.emitted_event(partner, "1", "DONE", first.generation)

    assert await registry.finish(first, "DONE") is True
    assert await store.exists(marker) and "1" not in await watched(store, partner)
    assert await store.zscore(build_keys.WATCH_PARTNERS, partner) is not None  # "2" is still open
    assert await registry.finish(first, "DONE") is False  # a repeat: already marked

    await registry.open(partner, "2", reason="regenerate")  # a new build replaces the watch
    assert await registry.finish(second, "DONE") is True  # the old build's event is marked...
    assert "2" in await watched(store, partner)  # ...the new watch stays
    [current] = await registry.watches(partner)
    assert await registry.finish(current, "FAILED") is True
    assert await store.zscore(build_keys.WATCH_PARTNERS, partner) is None


async def _rewrite_watch(store: Any, partner: str, package_id: str, **fields: Any) -> None:
    """Writes storage: a watch as an earlier poll (or an older process) left it."""
    key = build_keys.watch_set(partner)
    watch = json.loads(await store.hget(key, package_id))
    await store.hset(key, package_id, json.dumps({**watch, **fields}))


async def test_misses_of_a_watch_are_reset_when_its_build_is_seen_again(sim, store, start_worker, partner):
    """A build the list lacked twice and then shows again starts counting misses afresh
    (a running build with no misses is left alone by a poll: nothing to write)."""
    package = await make_package(sim, partner, "INPROGRESS", progress=10)
    await WatchRegistry(store).open(partner, package["id"], reason="create")
    await _rewrite_watch(store, partner, package["id"], misses=2)
    start_worker()

    async def reset() -> bool:
        misses = [
            w.misses for w in await WatchRegistry(store).watches(partner) if w.package_id == package["id"]
        ]
        return misses == [0]

    await wait_until(reset, what="the watch's misses reset")


async def test_a_watch_past_its_deadline_is_given_up_while_the_build_still_runs(
    sim, store, start_worker, partner
):
    package = await make_package(sim, partner, "INPROGRESS", progress=10)
    await WatchRegistry(store).open(partner, package["id"], reason="create")
    await _rewrite_watch(store, partner, package["id"], opened_at=1.0)  # opened in 1970
    start_worker()

    async def closed() -> bool:
        return package["id"] not in await watched(store, partner)

    await wait_until(closed, what="the overdue watch closed")
    assert not await store.keys(f"{PREFIX}:emitted:{partner_part(partner)}:*")  # checks storage: no marker


@pytest.mark.parametrize(
    ("status", "opened_ago_s", "misses", "expected"),
    [
        ("INPROGRESS", 10, 0, None),  # the common case: nothing to do
        ("INPROGRESS", 10, 1, Step.RESET_MISSES),
        ("INPROGRESS", 10_000, 0, Step.GIVE_UP),  # past the deadline
        ("DONE", 10, 0, Step.FINISH),  # an end to announce
        ("FAILED", 10, 0, Step.FINISH),
        ("DONE", 10_000, 1, Step.FINISH),  # an end found late is still announced
        (None, 10, 0, Step.LOOK_UP),  # missing from the list
        (None, 10_000, 2, Step.GIVE_UP),  # missing, and past the deadline
    ],
)
def test_each_watch_gets_the_step_its_poll_reading_calls_for(status, opened_ago_s, misses, expected):
    now = 1_800_000_000.0
    watch = Watch("1", "p", "create", "1", now - opened_ago_s, misses, "{}")
    package = None if status is None else PackageHead(id="1", status=status)
    assert next_step(watch, package, now, deadline_s=3600) is expected
