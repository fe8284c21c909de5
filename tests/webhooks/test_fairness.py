"""Fair delivery: one partner's hanging endpoints hold at most ``BFF_WEBHOOK_PARTNER_CONCURRENCY``
deliveries in flight, across workers; the rest wait (deferred, never logged as attempts) and
another partner's deliveries go out meanwhile.

A private deployment (its own Redis database, so its own arq queue): the tests decide which
workers run and with which send timeout.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import httpx
import pytest
import redis
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from app.kit.settings import Settings
from app.webhooks import keys as webhook_keys
from app.webhooks.delivery import make_webhook_client
from app.webhooks.dispatch import (
    BATCH_GRACE_S,
    NextAttempt,
    attempt_job_id,
    dispatch_event,
    rest_of_batch_job_id,
)
from app.webhooks.events import WebhookEventType
from app.webhooks.models import AttemptRecord, DeliveryRecord
from app.webhooks.store import WebhookStore
from app.webhooks.tasks import JOB_TIMEOUT_S, WebhooksContext, deferral_delay, send_webhook, send_webhooks
from tests.conftest import make_token
from tests.support.processes import ApiServer, ManagedProcess, python_module
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import eventually, package_event, register

PRIVATE_DB = 12
CAP = 10  # BFF_WEBHOOK_PARTNER_CONCURRENCY of this deployment (the default)
LOAD = 200  # deliveries of the greedy partner


@pytest.fixture(scope="module")
def fair_env(bff_env: dict[str, str]) -> dict[str, str]:
    url = bff_env["BFF_REDIS_URL"].rsplit("/", 1)[0] + f"/{PRIVATE_DB}"
    return {**bff_env, "BFF_REDIS_URL": url, "BFF_WEBHOOK_PARTNER_CONCURRENCY": str(CAP)}


@pytest.fixture(scope="module")
def fair_api(fair_env: dict[str, str]) -> Iterator[ApiServer]:
    api = ApiServer("api-fair", fair_env).start()
    yield api
    api.close()


@pytest.fixture
def clean_db(fair_env: dict[str, str]) -> None:
    """No job or lease of an earlier test is left for this test's workers."""
    with redis.Redis.from_url(fair_env["BFF_REDIS_URL"]) as client:
        client.flushdb()


@pytest.fixture
async def db(fair_env: dict[str, str], clean_db: None) -> AsyncIterator[Redis]:
    client = Redis.from_url(fair_env["BFF_REDIS_URL"], decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def fair_queue(fair_env: dict[str, str], clean_db: None) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(fair_env["BFF_REDIS_URL"]))
    yield pool
    await pool.aclose()


@pytest.fixture
def start_worker(fair_env: dict[str, str], clean_db: None) -> Iterator[Callable[..., ManagedProcess]]:
    """Starts workers of the private deployment (``BFF_*`` overrides as keywords)."""
    started: list[ManagedProcess] = []

    def start(**env: str) -> ManagedProcess:
        worker = ManagedProcess(
            f"worker-fair-{uuid.uuid4().hex[:6]}", python_module("app", "worker"), env={**fair_env, **env}
        )
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop()


def client_of(api: ApiServer, partner: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    return httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30)


async def dispatch_load(db: Redis, queue: ArqRedis, partner: str, count: int) -> None:
    """``count`` package events of the partner, each queued as its own batch job, as the
    poller queues the events of separate polls."""
    store = WebhookStore(db)
    endpoints = await store.list_endpoints(partner)
    for number in range(count):
        await dispatch_event(
            store,
            queue,
            partner_id=partner,
            event_type=WebhookEventType.PACKAGE_DONE,
            event_key=f"pkg-{number}:DONE",
            data=package_event(partner, "DONE", package_id=str(number)),
            endpoints=endpoints,
        )


async def all_deliveries(
    db: Redis, partner: str, endpoint_id: str
) -> list[tuple[DeliveryRecord, list[AttemptRecord]]]:
    page, _ = await WebhookStore(db).page_deliveries(partner, endpoint_id, after=None, limit=1000)
    return page


def job_context(db: Redis, queue: ArqRedis, **settings: Any) -> WebhooksContext:
    """What a worker's ``ctx`` holds for the webhook jobs, to call them directly."""
    configured = Settings(
        webhook_allow_private_targets=True,
        webhook_partner_concurrency=CAP,
        webhook_retry_schedule=[0.2],
        **settings,
    )
    return cast(
        WebhooksContext,
        {
            "redis": queue,
            "queue": queue,
            "db": db,
            "settings": configured,
            "webhook_http": make_webhook_client(configured),
        },
    )


def test_a_lease_outlives_the_job_that_holds_it():
    """A job releases its leases on the way out, even when arq cancels it at its timeout;
    the lease's own expiry is for a killed worker only."""
    assert webhook_keys.WEBHOOK_LEASE_S > JOB_TIMEOUT_S


def test_deferrals_back_off_to_the_send_timeout_with_jitter():
    assert deferral_delay(0, rng=lambda: 0.5) == pytest.approx(1.0)
    assert deferral_delay(2, rng=lambda: 0.5) == pytest.approx(4.0)
    assert deferral_delay(10_000, rng=lambda: 0.5) == pytest.approx(10.0)
    assert deferral_delay(0, rng=lambda: 0.0) == pytest.approx(0.5)
    assert deferral_delay(0, rng=lambda: 1.0) == pytest.approx(1.5)


async def test_delivery_slots_are_capped_per_partner_shared_by_workers_and_lapse(
    db: Redis, fair_env, partner
):
    other_worker = Redis.from_url(fair_env["BFF_REDIS_URL"], decode_responses=True)
    try:
        one, two = WebhookStore(db), WebhookStore(other_worker)
        first = await one.take_slots(partner, [f"a{i}" for i in range(CAP + 2)], limit=CAP, lease_s=30)
        assert first == [f"a{i}" for i in range(CAP)]
        assert await two.take_slots(partner, ["b0"], limit=CAP, lease_s=30) == []
        assert await two.take_slots("someone-else", ["c0"], limit=CAP, lease_s=30) == ["c0"]
        await one.release_slots(partner, first[:3])
        assert await two.take_slots(partner, ["b1", "b2", "b3", "b4"], limit=CAP, lease_s=30) == [
            "b1",
            "b2",
            "b3",
        ]
        ttl = await db.ttl(webhook_keys.webhook_in_flight(partner))
        assert 0 < ttl <= 30  # checks storage: an idle partner's leases leave Redis (the TTL)

        short = await one.take_slots("short-lived", ["x"], limit=1, lease_s=0.2)  # as if its worker died
        assert short == ["x"]
        lapsed = await eventually(
            lambda: two.take_slots("short-lived", ["y"], limit=1, lease_s=30),
            lambda granted: granted == ["y"],
        )
        assert lapsed == ["y"]
    finally:
        await other_worker.aclose()


async def test_an_attempt_without_a_slot_is_deferred_with_nothing_logged(
    db: Redis, fair_queue: ArqRedis, fair_api, partner, receiver: Receiver
):
    url = receiver.hook()
    async with client_of(fair_api, partner) as api:
        endpoint = await register(api, url)
    store = WebhookStore(db)
    await dispatch_load(db, fair_queue, partner, 1)  # queued, but no worker runs here
    [(delivery, _)] = await all_deliveries(db, partner, endpoint["id"])
    busy = await store.take_slots(partner, [f"t{i}" for i in range(CAP)], limit=CAP, lease_s=30)
    ctx = job_context(db, fair_queue)
    try:
        before = time.time()
        outcome = await send_webhook(ctx, partner, delivery.id, 1, 1)
        assert outcome.startswith("deferred")
        assert receiver.received(url) == []
        [(waiting, attempts)] = await all_deliveries(db, partner, endpoint["id"])
        assert attempts == [] and waiting.status == "pending" and waiting.next_attempt == 1
        assert waiting.next_attempt_at is not None and waiting.next_attempt_at > before + BATCH_GRACE_S
        job = await Job(attempt_job_id(delivery.id, 1, 1, deferrals=1), fair_queue).info()
        assert job is not None and job.args == (partner, delivery.id, 1, 1) and job.kwargs == {"deferrals": 1}

        await store.release_slots(partner, busy)
        assert await send_webhook(ctx, partner, delivery.id, 1, 1, deferrals=1) == "done"
        [request] = receiver.received(url)
        assert request.headers["webhook-id"] == delivery.msg_id and request.body == delivery.body.encode()
        [(done, attempts)] = await all_deliveries(db, partner, endpoint["id"])
        assert done.status == "succeeded" and [(a.number, a.outcome) for a in attempts] == [(1, "succeeded")]

        # A rerun of the finished attempt sends nothing, so it runs (a no-op) without a slot.
        busy = await store.take_slots(partner, [f"u{i}" for i in range(CAP)], limit=CAP, lease_s=30)
        assert await send_webhook(ctx, partner, delivery.id, 1, 1, deferrals=1) == "done"
        assert len(receiver.received(url)) == 1
        assert await Job(attempt_job_id(delivery.id, 1, 1, deferrals=2), fair_queue).info() is None
    finally:
        await store.release_slots(partner, busy)
        await ctx["webhook_http"].aclose()


async def test_a_batch_sends_as_many_at_once_as_its_partner_has_slots_and_defers_the_rest(
    db: Redis, fair_queue: ArqRedis, fair_api, partner, receiver: Receiver
):
    url = receiver.hook(hold=True)
    async with client_of(fair_api, partner) as api:
        endpoint = await register(api, url)
    batch: list[NextAttempt] = []
    store = WebhookStore(db)
    for number in range(3 * CAP):
        await dispatch_event(
            store,
            fair_queue,
            partner_id=partner,
            event_type=WebhookEventType.PACKAGE_DONE,
            event_key=f"pkg-{number}:DONE",
            data=package_event(partner, "DONE", package_id=str(number)),
            batch=batch,
        )
    ctx = job_context(db, fair_queue, webhook_timeout_s=1)
    try:
        outcome = await send_webhooks(ctx, partner, [(a.delivery_id, a.round, a.attempt) for a in batch])
    finally:
        receiver.release(url)
        await ctx["webhook_http"].aclose()
    traffic = receiver.traffic(url)
    assert traffic.max_open == CAP  # as many lanes as the partner has slots
    sent_ids = {r.headers["webhook-id"] for r in traffic.requests}
    assert len(sent_ids) == len(traffic.requests) >= CAP
    unstarted = []
    by_id = {
        delivery.id: (delivery, attempts)
        for delivery, attempts in await all_deliveries(db, partner, endpoint["id"])
    }
    for attempt in batch:
        delivery, attempts = by_id[attempt.delivery_id]
        if delivery.msg_id in sent_ids:
            assert [(a.number, a.outcome) for a in attempts] == [(1, "failed")]
            assert attempts[0].error is not None and "timed out" in attempts[0].error
        else:  # not started in the batch's window: no attempt logged, the same attempt waits
            assert attempts == [] and delivery.next_attempt == 1
            unstarted.append(attempt)
    assert len(sent_ids) + len(unstarted) == 3 * CAP
    assert outcome == f"{len(sent_ids)} sent, {len(sent_ids)} to retry, {len(unstarted)} deferred"
    # The rest goes on as one batch job, at once: this one started some, so slots are moving.
    rest = await Job(rest_of_batch_job_id(unstarted[0], stalled=0), fair_queue).info()
    assert rest is not None and rest.args == (partner, [(a.delivery_id, 1, 1) for a in unstarted])
    assert await db.zcard(webhook_keys.webhook_in_flight(partner)) == 0  # checks storage: leases given back


async def test_another_partners_delivery_arrives_while_one_partners_deliveries_hang(
    db: Redis, fair_queue: ArqRedis, fair_api, start_worker, receiver: Receiver
):
    greedy, other = "p-" + uuid.uuid4().hex[:12], "p-" + uuid.uuid4().hex[:12]
    hanging, answering = receiver.hook(hold=True), receiver.hook()
    start_worker(BFF_WEBHOOK_TIMEOUT_S="20")  # one worker: 50 job slots, as measured in the issue
    async with client_of(fair_api, greedy) as greedy_api, client_of(fair_api, other) as other_api:
        await register(greedy_api, hanging)
        endpoint = await register(other_api, answering, event_types=["package.failed"])

        async def test_delivery() -> float:
            """Seconds from asking for a test event to its arrival."""
            count, started = len(receiver.received(answering)), time.perf_counter()
            assert (await other_api.post(f"/v1/webhooks/{endpoint['id']}/test")).status_code == 202
            await receiver.wait_for(answering, count + 1)
            return time.perf_counter() - started

        baseline = [await test_delivery() for _ in range(3)]
        await dispatch_load(db, fair_queue, greedy, LOAD)
        traffic = receiver.traffic(hanging)
        try:
            await receiver.wait_until(lambda: traffic.open >= CAP)
            loaded = await test_delivery()
            # It came while every one of the greedy partner's attempts still hung: it waited
            # for none of their timeouts, and no more than CAP of them ever started.
            assert traffic.abandoned == [] and traffic.answered == []
            assert traffic.open == len(traffic.requests) == traffic.max_open == CAP
        finally:
            receiver.release(hanging)
        print(f"\nB's test delivery: {sorted(baseline)[1]:.3f} s alone, {loaded:.3f} s while A's {LOAD} hang")
        await receiver.wait_until(
            lambda: len({r.headers["webhook-id"] for r in traffic.answered}) == LOAD, timeout_s=60
        )


async def test_deferred_deliveries_are_all_delivered_once_the_receiver_answers(
    db: Redis, fair_queue: ArqRedis, fair_api, start_worker, partner, receiver: Receiver
):
    url = receiver.hook(hold=True)
    for _ in range(2):  # the cap is counted across processes: 100 job slots, CAP in flight
        start_worker(BFF_WEBHOOK_TIMEOUT_S="2")
    async with client_of(fair_api, partner) as api:
        endpoint = await register(api, url)
    await dispatch_load(db, fair_queue, partner, LOAD)
    traffic = receiver.traffic(url)
    try:
        await receiver.wait_until(lambda: len(traffic.abandoned) >= CAP)  # the first attempts timed out
    finally:
        receiver.release(url)
    await receiver.wait_until(
        lambda: len({r.headers["webhook-id"] for r in traffic.answered}) == LOAD, timeout_s=60
    )
    assert traffic.max_open <= CAP

    async def settled() -> list[tuple[DeliveryRecord, list[AttemptRecord]]]:
        return await all_deliveries(db, partner, endpoint["id"])

    found = await eventually(settled, lambda found: all(d.status == "succeeded" for d, _ in found))
    assert len(found) == LOAD
    verifier = Webhook(endpoint["secret"])
    for delivery, attempts in found:
        requests = [r for r in traffic.requests if r.headers["webhook-id"] == delivery.msg_id]
        assert requests and all(r.body == delivery.body.encode() for r in requests)  # payload unchanged
        for request in requests:
            verifier.verify(request.body, request.headers)
        # Every request is one logged attempt, and every logged attempt a request: waiting for
        # a slot is never logged, and nothing was sent twice.
        assert len(attempts) == len(requests)
        assert [a.outcome for a in attempts] == ["failed"] * (len(attempts) - 1) + ["succeeded"]
