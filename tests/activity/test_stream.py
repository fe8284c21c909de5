"""``GET /v1/activity/stream``: the partner's activity live, over a signed link, resumable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator

import httpx
from redis.asyncio import Redis

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog
from tests.builds.support import wait_until
from tests.conftest import make_token
from tests.support.processes import ApiServer
from tests.support.sse import (
    STREAM_TIMEOUT,
    EventReader,
    ServerSentEvent,
    answer_without_stream,
    expect_stream,
)


def log_of(redis: Redis) -> ActivityLog:
    return ActivityLog(redis, retention_s=30 * 24 * 3600, max_events=1_000_000)


async def append(log: ActivityLog, partner: str, n: int, padding: int = 0) -> None:
    data = {"export_id": f"e{n}", "partner_id": partner, "padding": "x" * padding}
    body = json.dumps({"type": "export.done", "timestamp": "2026-12-04T10:00:00.000Z", "data": data})
    await log.append(partner, f"msg_{n}", "export.done", "pkg-1", body)


async def stream_url(api: httpx.AsyncClient) -> str:
    response = await api.get("/v1/activity/stream-link")
    assert response.status_code == 200, response.text
    url: str = response.json()["stream_url"]
    return url


async def subscribed(redis: Redis, partner: str, count: int = 1) -> None:
    """The API subscribed the stream (seen only in Redis, which has no event for it:
    bounded polling)."""
    channel = activity_keys.activity_channel(partner)

    async def enough() -> bool:
        return bool(dict(await redis.pubsub_numsub(channel)).get(channel, 0) >= count)

    await wait_until(enough, deadline_s=10, what="the stream subscribed")


async def log_reads(redis: Redis) -> int:
    """XRANGE calls Redis served (the log's reads; appends make none)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xrange", {}).get("calls", 0))


@contextlib.asynccontextmanager
async def opened(url: str, last_event_id: str | None = None) -> AsyncIterator[EventReader]:
    """The stream as a browser opens it: no Authorization header, only the signed link."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    async with (
        httpx.AsyncClient(timeout=30) as browser,
        browser.stream("GET", url, headers=headers, timeout=STREAM_TIMEOUT) as response,
    ):
        await expect_stream(response)
        yield EventReader(response)


def ids(events: list[ServerSentEvent]) -> list[str]:
    return [event.json()["id"] for event in events]


async def test_the_stream_carries_each_event_and_resumes_after_a_disconnect_with_no_gap(api, redis, partner):
    log, url = log_of(redis), await stream_url(api)
    async with opened(url) as reader:
        await subscribed(redis, partner)
        for n in range(3):
            await append(log, partner, n)
        first = [await reader.event() for _ in range(3)]
    assert [e.event for e in first] == ["activity"] * 3 and ids(first) == ["msg_0", "msg_1", "msg_2"]
    assert first[0].json()["event"]["data"]["export_id"] == "e0"
    for n in range(3, 8):  # while nobody listens
        await append(log, partner, n)
    async with opened(url, last_event_id=first[-1].id) as reader:
        await subscribed(redis, partner)
        await append(log, partner, 8)
        resumed = [await reader.event() for _ in range(6)]
    assert ids(resumed) == [f"msg_{n}" for n in range(3, 9)]
    assert len({e.id for e in [*first, *resumed]}) == 9  # each its own position


async def test_a_reader_too_slow_for_its_inbox_loses_nothing(api, redis, partner):
    """Events pile up while the client reads nothing (its socket full, the process's inbox of
    the stream overflowing): the stream notices the gap and reads the log, in order."""
    log, url = log_of(redis), await stream_url(api)
    async with opened(url) as reader:
        await subscribed(redis, partner)
        reads_before = await log_reads(redis)
        for n in range(300):
            await append(log, partner, n, padding=60_000)
        received = [await reader.event() for _ in range(300)]
    assert ids(received) == [f"msg_{n}" for n in range(300)]
    assert await log_reads(redis) > reads_before, "the inbox never overflowed: the case was not made"


async def test_another_partners_events_never_appear(api, api_server, redis, partner):
    other = "p-other-" + partner
    headers = {"Authorization": f"Bearer {make_token(partners=[other])}", "X-Preferred-Partner-Id": other}
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers, timeout=30) as them:
        their_url = await stream_url(them)
    log = log_of(redis)
    async with opened(their_url) as reader:
        await subscribed(redis, other)
        for n in range(5):
            await append(log, partner, n)
        await append(log, other, 99)
        event = await reader.event()
    assert event.json()["id"] == "msg_99"


async def test_the_link_is_the_partners_alone_and_a_bad_last_event_id_is_a_422(api, api_server, partner):
    url = await stream_url(api)
    async with httpx.AsyncClient(timeout=30) as browser:
        moved = await answer_without_stream(
            browser, url.replace(f"partner_id={partner}", "partner_id=someone-else")
        )
        assert moved.status_code == 403
        for bad in ["x", "1-", "-1", "1-2-3", "99999999999999999-0", "1-" + "9" * 21]:
            response = await answer_without_stream(browser, url, headers={"Last-Event-ID": bad})
            assert response.status_code == 422, (bad, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_shutdown_ends_open_activity_streams_at_once(bff_env, partner):
    api = ApiServer("api-activity-shutdown", bff_env, log_level="info").start()
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    try:
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
            url = await stream_url(client)
            async with opened(url) as reader:  # open, subscribed or about to be: it ends either way
                assert api.process is not None
                api.process.send_signal(signal.SIGTERM)
                assert await reader.rest() == []
        assert await asyncio.to_thread(api.process.wait, 30) in (0, -signal.SIGTERM)
    finally:
        api.close()
    assert "timeout graceful shutdown exceeded" not in api.log()


async def test_a_stream_opened_from_now_loses_nothing_when_redis_drops_its_subscription(api, redis, partner):
    """Before its first event a stream has sent nothing; events appended while the process's
    pub/sub connection is down must still come (read from the log once it is back)."""
    log, url = log_of(redis), await stream_url(api)
    async with opened(url) as reader:
        await subscribed(redis, partner)
        assert await redis.client_kill_filter(_type="pubsub") >= 1  # the API's hub, among others
        for n in range(3):  # while the hub reconnects: no pub/sub message reaches the stream
            await append(log, partner, n)
        await subscribed(redis, partner)
        await append(log, partner, 3)
        received = [await reader.event() for _ in range(4)]
    assert ids(received) == ["msg_0", "msg_1", "msg_2", "msg_3"]


async def test_shutdown_ends_a_stream_whose_inbox_overflowed_past_the_end_signal(bff_env, redis, partner):
    """The end is put in each stream's inbox once; a stream that reads no inbox for a while
    (its client reads nothing, events pile up) still ends at once."""
    api = ApiServer("api-activity-shutdown-busy", bff_env, log_level="info").start()
    headers = {"Authorization": f"Bearer {make_token(partners=[partner])}", "X-Preferred-Partner-Id": partner}
    log = log_of(redis)
    try:
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
            url = await stream_url(client)
            async with opened(url) as reader:
                await subscribed(redis, partner)
                for n in range(200):  # the client's socket fills, the stream stops reading its inbox
                    await append(log, partner, n, padding=60_000)
                assert api.process is not None
                api.process.send_signal(signal.SIGTERM)
                for n in range(200, 300):  # pushes the end signal out of the full inbox
                    await append(log, partner, n, padding=60_000)
                rest = await reader.rest()
            assert len(rest) < 300, "the stream went on after the shutdown began"
        assert await asyncio.to_thread(api.process.wait, 30) in (0, -signal.SIGTERM)
    finally:
        api.close()
    assert "timeout graceful shutdown exceeded" not in api.log()


async def test_a_fresh_link_resumes_with_last_event_id_in_its_query(api, redis, partner):
    """A new EventSource (say on a fresh link once the old one expired) cannot send the
    header: the same position in the query resumes with no gap."""
    log, url = log_of(redis), await stream_url(api)
    async with opened(url) as reader:
        await subscribed(redis, partner)
        await append(log, partner, 0)
        first = await reader.event()
    for n in range(1, 4):
        await append(log, partner, n)
    async with opened(f"{await stream_url(api)}&last_event_id={first.id}") as reader:
        resumed = [await reader.event() for _ in range(3)]
    assert ids(resumed) == ["msg_1", "msg_2", "msg_3"]


async def test_an_empty_last_event_id_means_from_now(api, redis, partner):
    """What a client that received no event yet sends on reconnect: not a 422."""
    log, url = log_of(redis), await stream_url(api)
    await append(log, partner, 0)  # before the stream: not sent
    async with opened(url, last_event_id="") as reader:
        await subscribed(redis, partner)
        await append(log, partner, 1)
        assert ids([await asyncio.wait_for(reader.event(), 10)]) == ["msg_1"]
