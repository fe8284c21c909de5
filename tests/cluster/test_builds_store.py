"""The builds domain on a Redis Cluster, through the data client the API and the worker make:
watches open, close and finish, the poll schedule's shards are claimed fairly, poll stats and
status records are kept, with the outcomes a single Redis gives (tests/builds). Partners are
spread over several schedule shards and primaries, so a script touching two slots fails here."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.outbox import Outbox
from app.builds import keys as build_keys
from app.builds.registry import WatchRegistry
from app.builds.schedule import PollSchedule
from app.builds.statuses import Observation, StatusStore
from app.kit.keyspace import SHARDS, shard_key, shard_keys
from app.kit.redis import make_queue
from app.upstream.models import PackageHead
from tests.cluster.conftest import cluster_settings
from tests.support.cluster import LocalCluster
from tests.support.watches import poller_on, watched

PARTNERS = 12


@pytest.fixture(autouse=True)
async def empty_shards(cluster_db: Redis) -> None:
    """Each test starts with nobody scheduled or marked (the cluster serves the whole module)."""
    for base in (build_keys.WATCH_PARTNERS, activity_keys.OUTBOX_PARTNERS):
        for key in shard_keys(base):
            await cluster_db.delete(key)


@pytest.fixture
def partners(redis_cluster: LocalCluster, cluster_db: Redis) -> list[str]:
    """Partners on at least four schedule shards, on at least two primaries (the ids are
    random: the spread is checked). After ``cluster_db``, which spells keys for a cluster."""
    ids = [f"p-{uuid.uuid4().hex[:10]}" for _ in range(PARTNERS)]
    shards = {shard_key(build_keys.WATCH_PARTNERS, partner) for partner in ids}
    nodes = {redis_cluster.owner_of_key(shard).client_port for shard in shards}
    assert len(shards) >= 4 and len(nodes) >= 2, (shards, nodes)
    return ids


@pytest.fixture
async def outbox(redis_cluster: LocalCluster, cluster_db: Redis) -> AsyncIterator[Outbox]:
    queue = make_queue(cluster_settings(redis_cluster))  # a plain Redis: nothing is enqueued here
    yield Outbox.of(cluster_db, queue, cluster_settings(redis_cluster))
    await queue.aclose(close_connection_pool=True)


async def redis_ms(store: Redis) -> int:
    """A read that began after every write so far (the nodes share this host's clock)."""
    seconds, micros = await store.time()
    return int(seconds) * 1000 + int(micros) // 1000 + 1


async def scheduled(store: Redis, partner: str) -> bool:
    return await store.zscore(shard_key(build_keys.WATCH_PARTNERS, partner), partner) is not None


async def test_watches_open_close_and_finish_and_partners_follow_them_on_and_off_the_schedule(
    cluster_db: Redis, partners: list[str]
):
    assert len(shard_keys(build_keys.WATCH_PARTNERS)) == SHARDS
    registry = WatchRegistry(cluster_db)
    for partner in partners:
        assert await registry.open(partner, "1", reason="create") == "0"
        assert await registry.open(partner, "2", reason="create") == "0"
        assert await registry.open(partner, "2", reason="regenerate") == "1"
    assert set(await registry.schedule.partners()) >= set(partners)
    for partner in partners:
        assert await scheduled(cluster_db, partner)
        first, second = sorted(await registry.watches(partner), key=lambda w: w.package_id)
        assert (first.generation, second.generation) == ("0", "1")
        assert await registry.finish(first, "DONE") is True
        assert await registry.finish(first, "DONE") is False
        assert await scheduled(cluster_db, partner), "one watch is still open"
        assert await registry.close(second) is True
        assert not await scheduled(cluster_db, partner) and await watched(cluster_db, partner) == []


async def test_ensure_reads_a_builds_emitted_markers_in_one_call(cluster_db: Redis, partners: list[str]):
    """``ensure`` reads every terminal marker of a build with one MGET: one slot (the partner's)."""
    registry = WatchRegistry(cluster_db)
    partner = partners[0]
    await registry.open(partner, "1", reason="create")
    [watch] = await registry.watches(partner)
    assert await registry.finish(watch, "FAILED")
    assert await registry.ensure(partner, "1", "FAILED", observed_at_ms=await registry.clock_ms()) is False
    assert await registry.ensure(partner, "2", "INPROGRESS", observed_at_ms=await registry.clock_ms())
    assert await watched(cluster_db, partner) == ["2"]


async def test_due_partners_are_taken_from_every_shard_and_claimed_once(
    cluster_db: Redis, partners: list[str]
):
    """A few partners a pass (interleaved over the shards, starting at the next shard each
    pass): every scheduled partner is claimed, once, within a few passes."""
    registry = WatchRegistry(cluster_db)
    for partner in partners:
        await registry.open(partner, "1", reason="create")
    schedule = PollSchedule(cluster_db)
    claimed: list[str] = []
    for _ in range(SHARDS):
        waiting = {shard_key(build_keys.WATCH_PARTNERS, p) for p in partners if p not in claimed}
        due = await schedule.due(3)
        assert len(due.partners) == min(3, len(partners) - len(claimed))
        shards = [shard_key(build_keys.WATCH_PARTNERS, partner) for partner in due.partners]
        if len(waiting) >= 3:
            assert len(set(shards)) == len(shards), "one of each shard before a second of any"
        for partner in due.partners:
            assert await schedule.claim(partner, "worker", interval_s=60, lease_s=30, take_back=False)
            assert not await schedule.claim(partner, "other", interval_s=60, lease_s=30, take_back=True)
            claimed.append(partner)
        if set(claimed) >= set(partners):
            break
    assert sorted(claimed) == sorted(partners)
    due = await schedule.due(1000)
    assert not set(due.partners) & set(partners)
    assert due.partners == [] and due.next_due_in_s is not None and 50 < due.next_due_in_s <= 60
    for partner in partners:
        await schedule.release(partner, "worker")
        assert not await cluster_db.exists(build_keys.watch_poll_lock(partner))


async def test_a_locked_partner_is_looked_at_again_soon_and_taken_back_by_its_holder(
    cluster_db: Redis, partners: list[str]
):
    registry = WatchRegistry(cluster_db)
    partner = partners[0]
    await registry.open(partner, "1", reason="create")
    schedule = registry.schedule
    assert await schedule.claim(partner, "a", interval_s=0.2, lease_s=30, take_back=True)
    key = shard_key(build_keys.WATCH_PARTNERS, partner)
    await cluster_db.zadd(key, {partner: 0})  # due again (written in storage)
    assert not await schedule.claim(partner, "b", interval_s=60, lease_s=30, take_back=True)
    due_at = await cluster_db.zscore(key, partner)
    seconds, micros = await cluster_db.time()
    assert due_at is not None and due_at - (seconds + micros / 1e6) < 1, "retried soon, not an interval later"
    await cluster_db.zadd(key, {partner: 0})
    assert await schedule.claim(partner, "a", interval_s=0.2, lease_s=30, take_back=True)
    assert await cluster_db.pttl(build_keys.watch_poll_lock(partner)) > 25_000


async def test_a_poll_of_a_partner_without_watches_takes_it_off_its_shard(
    redis_cluster: LocalCluster, cluster_db: Redis, partners: list[str]
):
    schedule = PollSchedule(cluster_db)
    for partner in partners:
        await schedule.add(partner)  # as an open killed before writing its watch leaves it
    async with poller_on(cluster_db, cluster_settings(redis_cluster)) as poller:
        for partner in partners:
            assert await poller.schedule.claim(
                partner, poller.holder, interval_s=60, lease_s=30, take_back=True
            )
            await poller.poll_partner(partner)
            await poller.schedule.release(partner, poller.holder)
    assert not [partner for partner in partners if await scheduled(cluster_db, partner)]
    assert not set(await schedule.partners()) & set(partners)


async def test_poll_stats_are_counted_and_read_back(cluster_db: Redis, partners: list[str]):
    schedule = PollSchedule(cluster_db)
    for partner in partners[:4]:
        first = await schedule.record_poll(partner)
        assert (first.list_bytes, first.get_bytes, first.complete_at_ms) == (None, None, None)
        await schedule.record_outcome(partner, list_bytes=1000, complete_at_ms=42, gets=3)
        second = await schedule.record_poll(partner)
        assert (second.list_bytes, second.get_bytes, second.complete_at_ms) == (1000, None, 42)
        stats = await cluster_db.hgetall(build_keys.watch_poll_stats(partner))  # type: ignore[misc]
        assert (stats["polls"], stats["polled_by_get"]) == ("2", "3")
        assert (
            0
            < await cluster_db.ttl(build_keys.watch_poll_stats(partner))
            <= build_keys.WATCH_POLL_STATS_TTL_S
        )


async def test_statuses_are_observed_recorded_and_answered_fresh(
    cluster_db: Redis, partners: list[str], outbox: Outbox
):
    statuses = StatusStore(cluster_db, outbox)
    registry = WatchRegistry(cluster_db)
    for partner in partners[:4]:
        await registry.open(partner, "b-1", reason="create")
        start = await redis_ms(cluster_db)
        packages = [PackageHead(id=f"b-{n}", status="INPROGRESS", progress=10 * n) for n in range(1, 4)]
        assert (
            await statuses.observe_many(partner, packages, observed_at_ms=start, previous_poll_ms=None) == 3
        )
        record = await statuses.observe(partner, Observation("b-1", "DONE", None, await redis_ms(cluster_db)))
        assert (record.status, record.seq) == ("DONE", 2)
        await registry.schedule.record_outcome(partner, complete_at_ms=await redis_ms(cluster_db) - 1)
        fresh = await statuses.fresh(partner, "b-1", max_age_ms=60_000)
        assert fresh is not None and fresh[0] == record
        assert await statuses.fresh(partner, "b-2", max_age_ms=60_000) is None  # not watched
        assert not await cluster_db.xlen(activity_keys.outbox(partner)), "published at once"
        assert await cluster_db.xlen(activity_keys.activity_log(partner)) == 4  # package.status events
        assert await cluster_db.zscore(shard_key(activity_keys.OUTBOX_PARTNERS, partner), partner)


async def test_the_outbox_sweep_walks_every_shard(cluster_db: Redis, partners: list[str], outbox: Outbox):
    """Partners marked long ago on several shards, their outboxes empty: one sweep looks at
    each and forgets them."""
    for partner in partners:
        await cluster_db.zadd(shard_key(activity_keys.OUTBOX_PARTNERS, partner), {partner: 1})
    looked = await outbox.sweep(grace_ms=0)
    assert looked >= len(partners)
    for partner in partners:
        assert await cluster_db.zscore(shard_key(activity_keys.OUTBOX_PARTNERS, partner), partner) is None


async def test_a_watchs_misses_are_counted_unless_it_was_replaced(cluster_db: Redis, partners: list[str]):
    """``set_misses`` (replace_watch.lua) on the cluster: a compare-and-set on the watch."""
    registry = WatchRegistry(cluster_db)
    partner = partners[0]
    await registry.open(partner, "m-1", reason="create")
    [watch] = await registry.watches(partner)
    assert await registry.set_misses(watch, 1)
    [counted] = await registry.watches(partner)
    assert counted.misses == 1
    assert not await registry.set_misses(watch, 2)  # the watch it read was replaced since
