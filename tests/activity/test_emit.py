"""``emit_event``: the log first, then the webhooks, with one id and one body for both, even
when a crash makes the caller emit the same event twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from app.activity.emit import StatusAnnouncer, emit_event
from app.activity.log import ActivityLog
from app.activity.positions import START
from app.builds.statuses import Observation, StatusStore
from app.kit import redis_keys
from app.webhooks.events import ExportEventData, WebhookEventType
from app.webhooks.models import EndpointRecord, delivery_ids, message_id
from app.webhooks.store import WebhookStore
from tests.support.processes import RedisServer


@pytest.fixture
async def queue(redis_server: RedisServer) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    yield pool
    await pool.aclose()


def export_data(partner: str) -> ExportEventData:
    return ExportEventData(
        export_id="exp_1",
        partner_id=partner,
        package_id="pkg-1",
        tc="rock fans",
        crm_name="hubspot",
        container_name="Q3",
        status="DONE",
        reason=None,
        upstream_reference="ref-1",
        export_url="http://bff.example/v1/exports/exp_1",
    )


def endpoint(partner: str, endpoint_id: str) -> EndpointRecord:
    return EndpointRecord(
        id=endpoint_id,
        partner_id=partner,
        url="https://hooks.example/in",
        event_types=["export.done"],
        created_at=0,
        updated_at=0,
        secret="whsec_" + "A" * 32,
    )


async def test_an_event_emitted_twice_is_logged_once_and_delivered_with_the_logged_body(
    redis, queue, partner
):
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)
    endpoints = [endpoint(partner, "ep_1"), endpoint(partner, "ep_2")]
    key = f"{partner}:export:exp_1:DONE"
    for _ in range(2):  # the second one, as after a crash: a later timestamp in its body
        await emit_event(
            log,
            webhooks,
            queue,
            partner_id=partner,
            event_type=WebhookEventType.EXPORT_DONE,
            event_key=key,
            package_id="pkg-1",
            data=export_data(partner),
            endpoints=endpoints,
        )
    page = await log.read(partner, START, 10)
    [entry] = page.entries
    assert entry.message_id == message_id(key)
    ids = [delivery_ids(e.id, key)[0] for e in endpoints]
    deliveries = await webhooks.get_deliveries(partner, ids)
    for delivery in deliveries:
        assert delivery is not None
        assert (delivery.msg_id, delivery.body) == (entry.message_id, entry.body)  # one id, one body
    assert len({d.id for d in deliveries if d is not None}) == 2  # a delivery per endpoint


async def test_a_status_change_whose_process_died_before_dispatching_is_sent_by_the_sweep(
    redis, queue, partner
):
    """The status script logs the change and marks it owed; a process that dies right after
    (here: a store with nobody to announce) leaves it owed, and the sweep dispatches it once."""
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)
    subscribed = endpoint(partner, "ep_status").model_copy(update={"event_types": ["package.status"]})
    assert await webhooks.add_endpoint(subscribed, limit=50)
    seconds, micros = await redis.time()
    dying = StatusStore(redis, log)  # logs and marks owed, announces nothing
    await dying.observe(
        partner, Observation("pkg-7", "INPROGRESS", 10, int(seconds) * 1000 + int(micros) // 1000)
    )
    [entry] = (await log.read(partner, START, 10)).entries
    owed = [s for s in await log.owed_statuses(older_than_ms=0, limit=10_000) if s.partner_id == partner]
    assert len(owed) == 1 and owed[0].entry_id == str(entry.position)

    sweeper = StatusAnnouncer(log, webhooks, queue)
    await sweeper.sweep_owed(older_than_ms=0, limit=10_000)
    await sweeper.sweep_owed(older_than_ms=0, limit=10_000)  # again: nothing more
    [delivery] = await webhooks.get_deliveries(partner, [delivery_ids("ep_status", owed[0].event_key)[0]])
    assert delivery is not None and (delivery.msg_id, delivery.body) == (entry.message_id, entry.body)
    assert await redis.zscore(redis_keys.ACTIVITY_STATUS_OWED, owed[0].member) is None
