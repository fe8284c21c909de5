"""The outbox: every event recorded as data, then published (logged once, delivered once,
with one id and one body for both), even when a crash makes the caller emit twice or a
process dies between recording and publishing. The outbox stream and its partners set are
read in storage: they are what a killed process leaves behind."""

from __future__ import annotations

import asyncio

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog
from app.activity.outbox import Outbox
from app.activity.positions import START
from app.builds.statuses import Observation, StatusStore
from app.webhooks.dispatch import NextAttempt
from app.webhooks.events import ExportEventData, WebhookEventType
from app.webhooks.models import EndpointRecord, delivery_ids, message_id
from app.webhooks.store import WebhookStore


def export_data(partner: str, export_id: str = "exp_1") -> ExportEventData:
    return ExportEventData(
        export_id=export_id,
        partner_id=partner,
        package_id="pkg-1",
        tc="rock fans",
        crm_name="hubspot",
        container_name="Q3",
        status="DONE",
        reason=None,
        upstream_reference="ref-1",
        export_url=f"http://bff.example/v1/exports/{export_id}",
    )


def endpoint(partner: str, endpoint_id: str, event_types: list[str] | None = None) -> EndpointRecord:
    return EndpointRecord(
        id=endpoint_id,
        partner_id=partner,
        url="https://hooks.example/in",
        event_types=event_types or ["export.done"],
        created_at=0,
        updated_at=0,
        secret="whsec_" + "A" * 32,
    )


class DiesBeforePublishing(Outbox):
    """A process killed right after recording: nothing it recorded is published."""

    async def publish(self, partner_id, **_):
        raise ConnectionError("killed")


async def _redis_ms(redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_an_event_emitted_twice_is_logged_once_and_delivered_with_the_logged_body(
    redis, queue, partner
):
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)
    outbox = Outbox(redis, log, webhooks, queue)
    endpoints = [endpoint(partner, "ep_1"), endpoint(partner, "ep_2")]
    key = f"{partner}:export:exp_1:DONE"
    for _ in range(2):  # the second one, as after a crash: recorded again, later
        await outbox.emit(
            partner, WebhookEventType.EXPORT_DONE, key, "pkg-1", export_data(partner), endpoints=endpoints
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
    assert await redis.xlen(activity_keys.outbox(partner)) == 0  # published: nothing left recorded


async def test_a_status_change_whose_process_died_before_publishing_is_sent_by_the_sweep(
    redis, queue, partner
):
    """The status script records the change; a process that dies right after leaves it in the
    outbox, and the sweep logs and dispatches it once, then forgets the partner."""
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)
    subscribed = endpoint(partner, "ep_status", ["package.status"])
    assert await webhooks.add_endpoint(subscribed, limit=50)
    dying = StatusStore(redis, DiesBeforePublishing(redis, log, webhooks, queue))
    await dying.observe(partner, Observation("pkg-7", "INPROGRESS", 10, await _redis_ms(redis)))
    assert (await log.read(partner, START, 10)).entries == []  # recorded, not published
    assert await redis.zscore(activity_keys.OUTBOX_PARTNERS, partner) is not None

    sweeper = Outbox(redis, log, webhooks, queue)
    await sweeper.sweep(grace_ms=60_000)  # within the grace: left to its process
    # Storage read: the recorded entry is what the sweep must publish.
    [(_, recorded)] = await redis.xrange(activity_keys.outbox(partner))
    event_key = recorded["key"]
    assert event_key.startswith(f"{partner}:pkg-7:status:1:")
    await sweeper.sweep(grace_ms=0)
    await sweeper.sweep(grace_ms=0)  # again: nothing more
    [entry] = (await log.read(partner, START, 10)).entries
    assert entry.message_id == message_id(event_key)
    [delivery] = await webhooks.get_deliveries(partner, [delivery_ids("ep_status", event_key)[0]])
    assert delivery is not None and (delivery.msg_id, delivery.body) == (entry.message_id, entry.body)
    assert await redis.xlen(activity_keys.outbox(partner)) == 0
    assert await redis.zscore(activity_keys.OUTBOX_PARTNERS, partner) is None


async def test_events_are_logged_in_the_order_they_were_recorded(redis, queue, partner):
    """Publishers take the outbox from its oldest entry: an event recorded later and published
    first does not overtake one recorded before it by a process that has not published yet."""
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)
    slow = DiesBeforePublishing(redis, log, webhooks, queue)
    statuses = StatusStore(redis, slow)
    await statuses.observe(partner, Observation("pkg-1", "INPROGRESS", 10, await _redis_ms(redis)))
    [(_, recorded)] = await redis.xrange(activity_keys.outbox(partner))  # storage: the status event's key
    fast = Outbox(redis, log, webhooks, queue)
    export_key = f"{partner}:export:exp_9:DONE"
    await fast.emit(partner, WebhookEventType.EXPORT_DONE, export_key, "pkg-1", export_data(partner, "exp_9"))
    entries = (await log.read(partner, START, 10)).entries
    assert [e.message_id for e in entries] == [message_id(recorded["key"]), message_id(export_key)]


async def test_a_poll_s_concurrent_events_add_each_first_attempt_to_its_batch_once(redis, queue, partner):
    """The events of one poll are emitted concurrently into one batch: each publisher takes the
    outbox from its oldest entry, so without turns they would add each other's attempts."""
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)
    outbox = Outbox(redis, log, webhooks, queue)
    endpoints = [endpoint(partner, "ep_1")]
    batch: list[NextAttempt] = []
    keys = [f"{partner}:export:exp_{n}:DONE" for n in range(20)]
    await asyncio.gather(
        *(
            outbox.emit(
                partner,
                WebhookEventType.EXPORT_DONE,
                key,
                "pkg-1",
                export_data(partner, f"exp_{n}"),
                batch=batch,
                endpoints=endpoints,
            )
            for n, key in enumerate(keys)
        )
    )
    assert sorted(a.delivery_id for a in batch) == sorted(delivery_ids("ep_1", key)[0] for key in keys)
    assert len((await log.read(partner, START, 50)).entries) == 20


async def test_the_sweep_keeps_a_partner_marked_again_while_it_looked(redis, queue, partner):
    """A record under way marks the partner before writing: the sweep that found the outbox
    empty forgets the partner only if its mark is still the one it read."""
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    webhooks = WebhookStore(redis)

    class MarksDuringTheSweep(Outbox):
        async def publish(self, partner_id, **kwargs):
            created = await super().publish(partner_id, **kwargs)
            await redis.zadd(activity_keys.OUTBOX_PARTNERS, {partner_id: await _redis_ms(redis) + 1})
            return created

    sweeper = MarksDuringTheSweep(redis, log, webhooks, queue)
    await sweeper.mark(partner)
    await sweeper.sweep(grace_ms=-10_000)
    assert await redis.zscore(activity_keys.OUTBOX_PARTNERS, partner) is not None
    await Outbox(redis, log, webhooks, queue).sweep(grace_ms=-10_000)
    assert await redis.zscore(activity_keys.OUTBOX_PARTNERS, partner) is None


async def test_an_unreadable_entry_is_dropped_and_logged_not_holding_back_the_next_ones(
    redis, queue, partner, caplog
):
    """An entry no publisher can render (written by another version, or a bug) is logged and
    dropped; the events recorded after it are published. Written to storage directly: no
    path of the service records such an entry."""
    log = ActivityLog(redis, retention_s=3600, max_events=1000)
    outbox = Outbox(redis, log, WebhookStore(redis), queue)
    poison = {"type": "package.status", "key": "k", "pkg": "p", "at": "1", "data": '{"seq": "not a number"}'}
    await redis.xadd(activity_keys.outbox(partner), poison)
    await redis.xadd(activity_keys.outbox(partner), {**poison, "type": "no.such.type"})
    key = f"{partner}:export:exp_1:DONE"
    await outbox.emit(partner, WebhookEventType.EXPORT_DONE, key, "pkg-1", export_data(partner))
    assert [e.message_id for e in (await log.read(partner, START, 10)).entries] == [message_id(key)]
    assert await redis.xlen(activity_keys.outbox(partner)) == 0
    assert sum("dropped, unreadable" in r.getMessage() for r in caplog.records) == 2
