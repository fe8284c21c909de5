"""The pending set and its sweep when a process dies between the two calls of a write: a
delivery and its entry are written apart (another slot on a Redis Cluster), and whatever a
killed process leaves, the sweep (``reschedule_due_deliveries``) repairs.

A private database, emptied for each test: the sweep reads the whole set.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job
from redis.asyncio import Redis

from app.webhooks.dispatch import attempt_job_id
from app.webhooks.models import DeliveryRecord
from app.webhooks.store import PendingEntry, WebhookStore
from app.webhooks.tasks import FORGET_AFTER_S, reschedule_due_deliveries
from tests.support.processes import RedisServer
from tests.webhooks.support import Killed, KilledBetweenCalls, attempt_made, delivery_record, entry_due_at

PRIVATE_DB = 9
ENDPOINT = "whe_pending"


@pytest.fixture
def db_url(redis_server: RedisServer) -> str:
    return redis_server.url.rsplit("/", 1)[0] + f"/{PRIVATE_DB}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(db_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def jobs(db_url: str, db: Redis) -> AsyncIterator[ArqRedis]:
    """arq's queue in the same database; no worker reads it."""
    pool = await create_pool(RedisSettings.from_dsn(db_url))
    yield pool
    await pool.aclose()


async def created(db: Redis, partner: str, event_key: str, now: float) -> DeliveryRecord:
    """A new delivery, due now, as dispatch creates it."""
    delivery = delivery_record(partner, ENDPOINT, event_key, now=now, due_at=now)
    assert await WebhookStore(db).create_delivery(delivery)
    return delivery


async def test_a_create_killed_after_marking_leaves_an_entry_the_sweep_forgets(
    db: Redis, jobs: ArqRedis, partner
):
    now = time.time()
    delivery = delivery_record(partner, ENDPOINT, "pkg-1:DONE", now=now, due_at=now)

    with pytest.raises(Killed):
        await KilledBetweenCalls(db).create_delivery(delivery)

    store = WebhookStore(db)
    assert await store.get_delivery(partner, delivery.id) is None
    assert await entry_due_at(db, delivery) == now
    # A sweep may run between a live create's two calls: an entry this fresh is kept.
    assert await reschedule_due_deliveries(store, jobs, now=now + 1) == 0
    assert await entry_due_at(db, delivery) == now
    assert await reschedule_due_deliveries(store, jobs, now=now + FORGET_AFTER_S + 1) == 0
    assert await entry_due_at(db, delivery) is None
    assert await Job(attempt_job_id(delivery.id, 1, 1), jobs).info() is None

    assert await store.create_delivery(delivery)  # the event dispatched again creates it
    assert await entry_due_at(db, delivery) == now


async def test_an_attempt_killed_before_moving_the_entry_leaves_its_next_attempt_to_the_sweep(
    db: Redis, jobs: ArqRedis, partner
):
    now = time.time()
    delivery, store = await created(db, partner, "pkg-2:DONE", now), WebhookStore(db)

    with pytest.raises(Killed):  # attempt 1 is logged; attempt 2 is neither in the set nor queued
        await KilledBetweenCalls(db).advance_delivery(*attempt_made(delivery, 1, now, retry_in_s=60))

    stored = await store.get_delivery(partner, delivery.id)
    assert stored is not None and (stored.status, stored.next_attempt) == ("pending", 2)
    assert await entry_due_at(db, delivery) == now  # still due at attempt 1: early, never late
    assert await reschedule_due_deliveries(store, jobs, now=now + 1) == 1
    job = await Job(attempt_job_id(delivery.id, 1, 2), jobs).info()
    assert job is not None and job.args == (partner, delivery.id, 1, 2)
    assert job.score == pytest.approx((now + 60) * 1000, abs=1000)  # at attempt 2's time
    assert await entry_due_at(db, delivery) == now + 60  # and the entry with it


async def test_a_last_attempt_killed_before_removing_the_entry_leaves_it_to_the_sweep(
    db: Redis, jobs: ArqRedis, partner
):
    now = time.time()
    delivery, store = await created(db, partner, "pkg-3:DONE", now), WebhookStore(db)

    with pytest.raises(Killed):
        await KilledBetweenCalls(db).advance_delivery(*attempt_made(delivery, 1, now, retry_in_s=None))

    stored = await store.get_delivery(partner, delivery.id)
    assert stored is not None and stored.status == "succeeded"
    assert await entry_due_at(db, delivery) == now
    assert await reschedule_due_deliveries(store, jobs, now=now + FORGET_AFTER_S + 1) == 0
    assert await entry_due_at(db, delivery) is None


async def test_a_redelivery_killed_after_marking_leaves_an_entry_the_sweep_forgets(
    db: Redis, jobs: ArqRedis, partner
):
    now = time.time()
    delivery, store = await created(db, partner, "pkg-4:DONE", now), WebhookStore(db)
    assert await store.advance_delivery(*attempt_made(delivery, 1, now, retry_in_s=None))
    assert await entry_due_at(db, delivery) is None

    with pytest.raises(Killed):  # the redeliver request fails; its delivery is as it was
        await KilledBetweenCalls(db).restart_delivery(partner, delivery.id, now=now + 5)

    stored = await store.get_delivery(partner, delivery.id)
    assert stored is not None and (stored.status, stored.round) == ("succeeded", 1)
    assert await entry_due_at(db, delivery) == now + 5
    assert await reschedule_due_deliveries(store, jobs, now=now + 6) == 0  # fresh: kept
    assert await entry_due_at(db, delivery) == now + 5
    assert await reschedule_due_deliveries(store, jobs, now=now + 5 + FORGET_AFTER_S + 1) == 0
    assert await entry_due_at(db, delivery) is None
    assert await Job(attempt_job_id(delivery.id, 2, 1), jobs).info() is None


async def test_a_postponement_killed_before_moving_the_entries_leaves_the_attempts_to_the_sweep(
    db: Redis, jobs: ArqRedis, partner
):
    now = time.time()
    deliveries, store = (
        [await created(db, partner, f"pkg-5{i}:DONE", now) for i in range(2)],
        WebhookStore(db),
    )

    with pytest.raises(Killed):  # the deferred job that would retry them is never enqueued
        await KilledBetweenCalls(db).postpone_attempts(
            [(partner, delivery.id, 1, 1) for delivery in deliveries], due_at=now + 45
        )

    for delivery in deliveries:
        stored = await store.get_delivery(partner, delivery.id)
        assert stored is not None and stored.next_attempt_at == now + 45
        assert await entry_due_at(db, delivery) == now
    assert await reschedule_due_deliveries(store, jobs, now=now + 1) == 2
    for delivery in deliveries:
        job = await Job(attempt_job_id(delivery.id, 1, 1), jobs).info()
        assert job is not None and job.score == pytest.approx((now + 45) * 1000, abs=1000)
        assert await entry_due_at(db, delivery) == now + 45


async def test_an_entry_marked_anew_is_not_moved_by_a_caller_that_read_it_before(db: Redis, partner):
    """A redelivery between an attempt's two calls (or between the sweep's read and its
    forget) keeps the entry it marked."""
    now = time.time()
    delivery, store = await created(db, partner, "pkg-6:DONE", now), WebhookStore(db)
    read = PendingEntry(partner, delivery.id, now)
    await store.mark_pending(partner, delivery.id, due_at=now + 1)  # the redelivery

    assert not await store.forget_pending(read)
    assert await store.move_pending(partner, [(delivery.id, repr(now), None)]) == 0
    assert await entry_due_at(db, delivery) == now + 1
    assert await store.forget_pending(PendingEntry(partner, delivery.id, now + 1))
    assert await entry_due_at(db, delivery) is None
