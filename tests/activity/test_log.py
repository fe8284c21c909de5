"""The activity log on a real Redis: appended once per event, read after a position, trimmed
by age; a ``package.status`` change is logged once, with the webhook's shape."""

from __future__ import annotations

import datetime as dt
import json

from app.activity import keys as activity_keys
from app.activity.log import SCAN_PER_PAGE, ActivityLog, Filters
from app.activity.outbox import Outbox
from app.activity.positions import START, Position
from app.builds.statuses import Observation, StatusStore
from app.webhooks.events import PackageStatusChanged, WebhookEventType, recorded_event_body
from app.webhooks.models import message_id
from app.webhooks.store import WebhookStore

RETENTION_S = 3600


def body(n: int, event_type: str = "export.done", package: str = "pkg-1") -> str:
    return json.dumps(
        {"type": event_type, "timestamp": "2026-12-04T10:00:00.000Z", "data": {"n": n, "p": package}}
    )


async def test_an_event_is_appended_once_with_its_first_body(redis, partner):
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000)
    first = await log.append(partner, "msg_a", "export.done", "pkg-1", body(1))
    again = await log.append(partner, "msg_a", "export.done", "pkg-1", body(2))
    assert first.new and not again.new
    assert again.position == first.position and again.body == body(1)
    page = await log.read(partner, START, 10)
    assert [(e.message_id, e.body) for e in page.entries] == [("msg_a", body(1))]
    assert page.done


async def test_pages_follow_each_other_and_filters_pass_over_the_rest(redis, partner):
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000)
    for n in range(10):
        kind = "package.status" if n % 2 else "export.done"
        await log.append(partner, f"msg_{n}", kind, f"pkg-{n % 3}", body(n, kind))
    seen, after = [], START
    while True:
        page = await log.read(partner, after, 3)
        seen += [e.message_id for e in page.entries]
        after = page.reached
        if page.done:
            break
    assert seen == [f"msg_{n}" for n in range(10)]
    only = await log.read(partner, START, 100, Filters(("package.status",), "pkg-1"))
    assert [e.message_id for e in only.entries] == ["msg_1", "msg_7"] and only.done


async def test_a_filtered_page_looks_at_a_bounded_number_of_entries_and_says_where_it_stopped(redis, partner):
    """A filter that matches nothing for long: short pages, not done, and nothing skipped
    (the filler is written to the stream directly: storage, for speed)."""
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=10_000)
    key = activity_keys.activity_log(partner)
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(SCAN_PER_PAGE * 2 + 10):
            pipe.xadd(key, {"id": f"msg_{n}", "type": "export.done", "pkg": "other", "body": body(n)})
        await pipe.execute()
    await log.append(partner, "msg_wanted", "export.done", "pkg-9", body(0))
    pages, found, after = 0, [], START
    while True:
        page = await log.read(partner, after, 10, Filters(package_id="pkg-9"))
        pages += 1
        found += [e.message_id for e in page.entries]
        after = page.reached
        if page.done:
            break
    assert found == ["msg_wanted"] and pages == 3


async def test_another_partners_log_is_another_stream(redis, partner):
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000)
    await log.append(partner, "msg_1", "export.done", "pkg-1", body(1))
    assert (await log.read(partner + "-other", START, 10)).entries == []


async def test_retention_trims_by_age_and_the_idle_log_expires(redis, partner):
    """An append trims what is older than the retention (entries aged by writing them with
    past ids), and the key lives the retention after the last append. Checks storage: the
    stream's TTL is the contract."""
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000)
    now, key = await _redis_ms(redis), activity_keys.activity_log(partner)
    fields = {"type": "export.done", "pkg": "pkg-1", "body": body(0)}
    await redis.xadd(key, {**fields, "id": "msg_too_old"}, id=f"{now - RETENTION_S * 1000 - 1000}-0")
    await redis.xadd(key, {**fields, "id": "msg_kept"}, id=f"{now - RETENTION_S * 1000 + 60_000}-0")
    await log.append(partner, "msg_new", "export.done", "pkg-1", body(2))
    page = await log.read(partner, START, 10)
    assert [e.message_id for e in page.entries] == ["msg_kept", "msg_new"]
    assert RETENTION_S * 1000 - 60_000 < await redis.pttl(key) <= RETENTION_S * 1000


async def test_a_status_change_is_one_package_status_event_with_the_webhook_shape(redis, queue, partner):
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000)
    statuses = StatusStore(redis, Outbox(redis, log, WebhookStore(redis), queue))
    now = await _redis_ms(redis)
    await statuses.observe(partner, Observation('odd "id"/ü', "INPROGRESS", 40, now))
    await statuses.observe(partner, Observation('odd "id"/ü', "INPROGRESS", 40, now))  # no change
    page = await log.read(partner, START, 10)
    assert len(page.entries) == 1
    entry = page.entries[0]
    event = PackageStatusChanged.model_validate_json(entry.body)
    assert (event.data.package_id, event.data.partner_id, event.data.status) == (
        'odd "id"/ü',
        partner,
        "INPROGRESS",
    )
    assert (event.data.progress, event.data.seq) == (40, 1)
    stored = await statuses.get(partner, 'odd "id"/ü')
    assert stored is not None and stored.seq == 1
    # The event key the status script made names the change and its moment (the timestamp).
    moment = dt.datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))
    at_ms = int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000
    assert entry.message_id == message_id(f'{partner}:odd "id"/ü:status:1:{at_ms}')
    assert now - 1000 <= at_ms <= await _redis_ms(redis)


def test_a_recorded_event_keeps_its_millisecond_exactly() -> None:
    """Rendered from integer ms, not a float of seconds (1709164800.999 is 1709164800.99899...
    as a float, which would print .998)."""
    data = '{"package_id":"p","partner_id":"a","status":"INPROGRESS","progress":null,"seq":1}'
    for ms in [0, 951782400000, 1709164800999, 4102444799999, 1733310000123]:
        body = json.loads(recorded_event_body(WebhookEventType.PACKAGE_STATUS, data, ms))
        expected = f"{dt.datetime.fromtimestamp(ms // 1000, dt.UTC):%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"
        assert body["timestamp"] == expected, ms


async def _redis_ms(redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_positions_order_as_entry_ids() -> None:
    assert Position(5, 0) < Position(5, 1) < Position(6, 0)
    assert str(Position.parse("17-3")) == "17-3"


async def test_a_page_stops_at_its_byte_budget_and_the_next_goes_on(redis, partner):
    """Large events (a hostile upstream's cluster names): a page carries at most its budget
    of them, one at least, and is not ``done`` until the end."""
    log = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000, page_max_bytes=64 * 1024)
    for n in range(10):
        body = json.dumps({"type": "export.done", "data": {"n": n, "padding": "x" * 20_000}})
        await log.append(partner, f"msg_{n}", "export.done", "", body)
    pages, after = [], START
    while True:
        page = await log.read(partner, after, 500)
        pages.append([entry.message_id for entry in page.entries])
        assert sum(len(entry.body) for entry in page.entries) <= 64 * 1024
        after = page.reached
        if page.done:
            break
    assert [m for page in pages for m in page] == [f"msg_{n}" for n in range(10)]
    assert [len(page) for page in pages] == [3, 3, 3, 1, 0][: len(pages)]
    huge = ActivityLog(redis, retention_s=RETENTION_S, max_events=1000, page_max_bytes=64 * 1024)
    await huge.append(partner + "-h", "msg_h", "export.done", "", json.dumps({"padding": "y" * 100_000}))
    assert [e.message_id for e in (await huge.read(partner + "-h", START, 10)).entries] == ["msg_h"]
