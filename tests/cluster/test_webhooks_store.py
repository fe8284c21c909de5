"""The webhook store on a Redis Cluster does what it does on one Redis: every test runs on
both (the data client ``make_redis`` makes for each), with the same assertions. The pending
set is split into shard keys on the cluster, one key on a single Redis; every script touches
one partner's slot.

Each test empties its Redis (every primary of the cluster): the sweep reads the whole set.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job
from prometheus_client import REGISTRY
from redis.asyncio import Redis, RedisCluster

from app.kit.redis import close_redis, make_redis
from app.kit.settings import Settings
from app.webhooks import keys as webhook_keys
from app.webhooks.dispatch import attempt_job_id
from app.webhooks.models import EndpointRecord
from app.webhooks.store import WebhookStore
from app.webhooks.tasks import FORGET_AFTER_S, reschedule_due_deliveries
from app.worker.metrics import WorkerMetrics
from tests.support.processes import RedisServer
from tests.webhooks.support import Killed, KilledBetweenCalls, attempt_made, delivery_record, entry_due_at

DATA_DB = 9  # the single Redis's data
QUEUE_DB = 10  # arq's queue, for both: a cluster cannot hold it
PARTNERS = [f"partner-{index}" for index in range(24)]


def url_of(redis_server: RedisServer, db: int) -> str:
    return redis_server.url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
async def single_db(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = make_redis(Settings(redis_url=url_of(redis_server, DATA_DB)))
    yield client
    await close_redis(client)


@pytest.fixture(params=["redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> Redis:
    client: Redis = request.getfixturevalue("single_db" if request.param == "redis" else "cluster_db")
    return client


@pytest.fixture
async def db(backend: Redis) -> Redis:
    await backend.flushdb()  # a cluster client sends it to every primary
    return backend


@pytest.fixture
async def jobs(redis_server: RedisServer) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(url_of(redis_server, QUEUE_DB)))
    await pool.flushdb()
    yield pool
    await pool.aclose()


def endpoint_record(partner: str, endpoint_id: str, now: float) -> EndpointRecord:
    return EndpointRecord(
        id=endpoint_id,
        partner_id=partner,
        url="https://hooks.example.com/in",
        event_types=["package.done"],
        created_at=now,
        updated_at=now,
        secret="whsec_" + "A" * 32,
    )


async def test_endpoints_are_added_up_to_the_limit_listed_updated_and_deleted(db: Redis):
    store, now = WebhookStore(db), time.time()
    for index in range(3):
        assert await store.add_endpoint(endpoint_record("acme", f"whe_{index}", now + index), limit=3)
    assert not await store.add_endpoint(endpoint_record("acme", "whe_3", now), limit=3)
    assert await store.add_endpoint(endpoint_record("other", "whe_3", now), limit=3)
    assert [e.id for e in await store.list_endpoints("acme")] == ["whe_0", "whe_1", "whe_2"]
    assert await store.update_endpoint("acme", "whe_1", {"description": "ours"}, ("disabled_reason",))
    assert not await store.update_endpoint("acme", "whe_3", {"description": "never"})
    found = await store.get_endpoints("acme", ["whe_1", "whe_3"])
    assert list(found) == ["whe_1"] and found["whe_1"].description == "ours"

    assert await store.delete_endpoint("acme", "whe_0")
    assert not await store.delete_endpoint("acme", "whe_0")
    assert await store.get_endpoint("acme", "whe_0") is None
    assert await store.add_endpoint(endpoint_record("acme", "whe_4", now + 9), limit=3)  # its place is free
    assert [e.id for e in await store.list_endpoints("acme")] == ["whe_1", "whe_2", "whe_4"]
    assert await store.list_endpoints("nobody") == []
    assert await store.page_deliveries("nobody", "whe_0", after=None, limit=10) == ([], None)


async def test_a_delivery_is_created_once_pending_and_listed(db: Redis):
    store, now = WebhookStore(db), time.time()
    first = delivery_record("acme", "whe_1", "pkg-1:DONE", now=now, due_at=now + 30)
    second = delivery_record("acme", "whe_1", "pkg-2:DONE", now=now + 1, due_at=now + 31)
    assert await store.create_delivery(first) and await store.create_delivery(second)
    assert not await store.create_delivery(first.model_copy(update={"next_attempt_at": now + 99}))

    assert await store.get_delivery("acme", first.id) == first
    assert await store.get_deliveries("acme", [second.id, "dlv_gone", first.id]) == [second, None, first]
    assert await entry_due_at(db, first) == now + 30  # the second create left the entry as it was
    page, after = await store.page_deliveries("acme", "whe_1", after=None, limit=1)
    assert [d.id for d, _ in page] == [second.id] and after is not None
    rest, end = await store.page_deliveries("acme", "whe_1", after=after, limit=1)
    assert [d.id for d, _ in rest] == [first.id] and end is None
    window = await store.deliveries_between("acme", "whe_1", since=now, until=now + 1, limit=10)
    assert [d.id for d in window] == [first.id]


async def test_attempts_move_the_pending_entry_and_the_last_removes_it(db: Redis):
    store, now = WebhookStore(db), time.time()
    delivery = delivery_record("acme", "whe_1", "pkg-1:DONE", now=now, due_at=now)
    assert await store.create_delivery(delivery)

    retrying, failed = attempt_made(delivery, 1, now, retry_in_s=60)
    assert await store.advance_delivery(retrying, failed)
    assert not await store.advance_delivery(retrying, failed)  # a second run of attempt 1
    assert await entry_due_at(db, delivery) == now + 60
    done, succeeded = attempt_made(retrying, 2, now + 60, retry_in_s=None)
    assert await store.advance_delivery(done, succeeded)
    assert await entry_due_at(db, delivery) is None

    [(stored, attempts)], _ = await store.page_deliveries("acme", "whe_1", after=None, limit=10)
    assert (stored.status, stored.attempt_count) == ("succeeded", 2)
    assert [(a.number, a.outcome) for a in attempts] == [(1, "failed"), (2, "succeeded")]


async def test_a_redelivery_starts_a_new_round_due_now(db: Redis):
    store, now = WebhookStore(db), time.time()
    delivery = delivery_record("acme", "whe_1", "pkg-1:DONE", now=now, due_at=now)
    assert await store.create_delivery(delivery)
    assert await store.advance_delivery(*attempt_made(delivery, 1, now, retry_in_s=None))

    assert await store.restart_delivery("acme", delivery.id, now=now + 5) == 2
    assert await store.restart_delivery("acme", "dlv_gone", now=now + 5) is None
    stored = await store.get_delivery("acme", delivery.id)
    assert stored is not None and (stored.status, stored.round, stored.next_attempt) == ("pending", 2, 1)
    assert await entry_due_at(db, delivery) == now + 5


async def test_postponing_moves_only_the_attempts_still_awaited_of_every_partner(db: Redis):
    store, now = WebhookStore(db), time.time()
    deliveries = [
        delivery_record(partner, "whe_1", f"pkg-{index}:DONE", now=now, due_at=now)
        for index, partner in enumerate(["acme", "acme", "other"])
    ]
    for delivery in deliveries:
        assert await store.create_delivery(delivery)
    assert await store.advance_delivery(*attempt_made(deliveries[1], 1, now, retry_in_s=10))

    moved = await store.postpone_attempts([(d.partner_id, d.id, 1, 1) for d in deliveries], due_at=now + 45)

    assert moved == [True, False, True]
    assert [await entry_due_at(db, d) for d in deliveries] == [now + 45, now + 10, now + 45]
    stored = await store.get_deliveries("acme", [deliveries[0].id])
    assert stored[0] is not None and stored[0].next_attempt_at == now + 45


async def test_test_sends_and_delivery_leases_are_counted(db: Redis):
    store = WebhookStore(db)
    first, window = await store.count_test_send("acme", "whe_1")
    second, _ = await store.count_test_send("acme", "whe_1")
    assert (first, second) == (1, 2) and 0 < window <= webhook_keys.WEBHOOK_TEST_WINDOW_S
    assert await store.take_slots("acme", ["a", "b", "c"], limit=2, lease_s=30) == ["a", "b"]
    await store.release_slots("acme", ["a"])
    assert await store.take_slots("acme", ["d", "e"], limit=2, lease_s=30) == ["d"]


async def test_the_sweep_enqueues_the_due_deliveries_of_every_partner_and_forgets_ended_ones(
    db: Redis, jobs: ArqRedis
):
    store, now = WebhookStore(db), time.time()
    deliveries = [
        delivery_record(partner, f"whe_{partner}", "pkg-1:DONE", now=now, due_at=now) for partner in PARTNERS
    ]
    for delivery in deliveries:
        assert await store.create_delivery(delivery)
    later = delivery_record("acme", "whe_1", "pkg-later:DONE", now=now, due_at=now + 3600)
    assert await store.create_delivery(later)
    ended = deliveries[0]
    assert await store.advance_delivery(*attempt_made(ended, 1, now, retry_in_s=None))
    await store.mark_pending(ended.partner_id, ended.id, due_at=now - FORGET_AFTER_S - 1)  # left behind

    assert await reschedule_due_deliveries(store, jobs, now=now + 1) == len(PARTNERS) - 1

    for delivery in deliveries[1:]:
        job = await Job(attempt_job_id(delivery.id, 1, 1), jobs).info()
        assert job is not None and job.args == (delivery.partner_id, delivery.id, 1, 1)
    assert await Job(attempt_job_id(ended.id, 1, 1), jobs).info() is None
    assert await Job(attempt_job_id(later.id, 1, 1), jobs).info() is None
    assert await entry_due_at(db, ended) is None
    assert await entry_due_at(db, later) == now + 3600


async def test_partners_spread_over_the_shard_keys_and_the_metrics_count_them_all(db: Redis, jobs: ArqRedis):
    store, now = WebhookStore(db), time.time()
    for partner in PARTNERS:
        assert await store.create_delivery(
            delivery_record(partner, f"whe_{partner}", "pkg-1:DONE", now=now, due_at=now)
        )

    used = [key for key in webhook_keys.webhook_pending_shards() if await db.zcard(key)]
    if isinstance(db, RedisCluster):
        assert len(used) > 4
        owners = [db.get_node_from_key(key) for key in used]
        assert len({owner.name for owner in owners if owner is not None}) > 1  # on several primaries
    else:
        assert used == [webhook_keys.WEBHOOK_PENDING]
    await WorkerMetrics(db, jobs, "arq:queue", host="127.0.0.1", port=0).sample()
    assert REGISTRY.get_sample_value("bff_webhook_deliveries_pending") == len(PARTNERS)


async def test_an_attempt_killed_between_its_two_calls_is_repaired_by_the_sweep(db: Redis, jobs: ArqRedis):
    store, now = WebhookStore(db), time.time()
    delivery = delivery_record("acme", "whe_1", "pkg-1:DONE", now=now, due_at=now)
    assert await store.create_delivery(delivery)

    with pytest.raises(Killed):
        await KilledBetweenCalls(db).advance_delivery(*attempt_made(delivery, 1, now, retry_in_s=60))

    assert await entry_due_at(db, delivery) == now
    assert await reschedule_due_deliveries(store, jobs, now=now + 1) == 1
    assert await Job(attempt_job_id(delivery.id, 1, 2), jobs).info() is not None
    assert await entry_due_at(db, delivery) == now + 60
