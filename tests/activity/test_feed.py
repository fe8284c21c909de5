"""``GET /v1/activity`` and the named consumers, against the real API, worker and simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import httpx

from app.activity import keys as activity_keys
from app.activity.log import ActivityLog
from tests.builds.support import Delivery, WebhookReceiver, register_webhook
from tests.conftest import make_token
from tests.support.sim import force_status, make_package

APPENDED = 1_000


def log_of(redis: Any) -> ActivityLog:
    return ActivityLog(redis, retention_s=30 * 24 * 3600, max_events=1_000_000)


async def append(log: ActivityLog, partner: str, n: int, event_type: str = "export.done") -> None:
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": "2026-12-04T10:00:00.000Z",
            "data": {"export_id": f"e{n}", "partner_id": partner},
        }
    )
    await log.append(partner, f"msg_{n}", event_type, f"pkg-{n % 7}", body)


async def read_all(api: httpx.AsyncClient, **params: Any) -> tuple[list[str], str]:
    """Every page until ``done``; the ids in order and the last iterator."""
    ids: list[str] = []
    while True:
        page = await api.get("/v1/activity", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [item["id"] for item in body["data"]]
        params = {k: v for k, v in params.items() if k not in ("after", "iterator")}
        params["iterator"] = body["iterator"]
        if body["done"]:
            return ids, body["iterator"]


def ended(deliveries: list[Delivery]) -> bool:
    """Both ends arrived: ``package.done`` and the ``package.status`` that says DONE."""
    payloads = [d.payload() for d in deliveries]
    return any(p["type"] == "package.done" for p in payloads) and any(
        p["type"] == "package.status" and p["data"]["status"] == "DONE" for p in payloads
    )


async def test_an_event_is_in_the_feed_once_with_its_webhooks_id_and_payload(
    api, sim, worker_process, partner
):
    receiver = await WebhookReceiver().start()
    try:
        await register_webhook(api, receiver.url, ["package.done", "package.status"])
        package = await make_package(sim, partner, "INPROGRESS")
        assert (await api.post(f"/v1/packages/{package['id']}/watch")).status_code == 202
        await force_status(sim, package["id"], "DONE")
        count = 1
        while not ended(receiver.deliveries):  # wakes on each arrival
            await receiver.wait_for(count)
            count = len(receiver.deliveries) + 1
        deliveries = list(receiver.deliveries)
    finally:
        await receiver.stop()
    feed = await api.get("/v1/activity", params={"package_id": package["id"]})
    assert feed.status_code == 200, feed.text
    items = feed.json()["data"]
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    for delivery in deliveries:
        assert ids.count(delivery.webhook_id) == 1
        assert f'{{"id":"{delivery.webhook_id}","event":{delivery.body.decode()}}}' in feed.text
    types = [item["event"]["type"] for item in items]
    assert types.count("package.done") == 1 and types[-1] == "package.done"
    statuses = [
        item["event"]["data"]["status"] for item in items if item["event"]["type"] == "package.status"
    ]
    assert statuses[0] == "INPROGRESS" and statuses[-1] == "DONE"


async def test_a_reader_paging_while_a_thousand_events_are_appended_sees_each_once_in_order(
    api, redis, partner
):
    log = log_of(redis)

    async def appender(worker: int) -> None:
        for n in range(worker, APPENDED, 4):
            await append(log, partner, n)

    writers = asyncio.gather(*(appender(w) for w in range(4)))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 37}
    while True:
        appended_all = writers.done()  # before the read: a page done after it has seen them all
        page = (await api.get("/v1/activity", params=params)).json()
        seen += [item["id"] for item in page["data"]]
        params = {"limit": 37, "iterator": page["iterator"]}
        if page["done"] and appended_all:
            break
    await writers
    # reads storage: the stream itself is the oracle the feed is held against
    in_log = [fields["id"] for _, fields in await redis.xrange(activity_keys.activity_log(partner))]
    assert len(in_log) == APPENDED
    assert seen == in_log


async def test_filters_and_starting_points(api, redis, partner):
    log = log_of(redis)
    for n in range(5):
        await append(log, partner, n, "export.done" if n % 2 else "export.failed")
    ids, _ = await read_all(api, event_type="export.done")
    assert ids == ["msg_1", "msg_3"]
    ids, _ = await read_all(api, package_id="pkg-3")
    assert ids == ["msg_3"]
    _, now = await read_all(api, after="now")
    await append(log, partner, 5)
    assert (await read_all(api, iterator=now))[0] == ["msg_5"]
    assert (await read_all(api, after="2000-01-01T00:00:00Z"))[0] == [f"msg_{n}" for n in range(6)]
    assert (await read_all(api, after="2999-01-01T00:00:00+01:00"))[0] == []


async def test_another_partners_events_and_iterators_are_not_yours(api, api_server, redis, partner):
    await append(log_of(redis), partner, 1)
    _, iterator = await read_all(api)
    other = "p-other-" + partner
    headers = {"Authorization": f"Bearer {make_token(partners=[other])}", "X-Preferred-Partner-Id": other}
    async with httpx.AsyncClient(base_url=api_server.url, headers=headers, timeout=30) as them:
        assert (await read_all(them))[0] == []
        stolen = await them.get("/v1/activity", params={"iterator": iterator})
        assert stolen.status_code == 422
        assert stolen.headers["content-type"].startswith("application/problem+json")


async def test_hostile_query_values_are_422_problems(api):
    cases = [
        {"iterator": "bm90LW91cnM"},
        {"iterator": "%%%"},
        {"iterator": "A" * 81},
        {"after": "yesterday"},
        {"after": "2026-13-45T00:00:00Z"},
        {"after": "0000-01-01T00:00:00Z"},
        {"after": "now", "iterator": "x"},
        {"event_type": "webhook.test"},
        {"limit": "0"},
        {"limit": "501"},
        {"package_id": "a/b"},
    ]
    for params in cases:
        response = await api.get("/v1/activity", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    bad_names = ["-x", "a" * 65, "ü"]
    for name in bad_names:
        response = await api.post(f"/v1/activity/consumers/{name}/poll")
        assert response.status_code == 422, (name, response.text)


async def test_a_named_consumer_reading_in_a_loop_sees_each_event_once(api, redis, partner):
    log = log_of(redis)
    for n in range(10):
        await append(log, partner, n)
    seen: list[str] = []

    async def poll() -> dict[str, Any]:
        response = await api.post("/v1/activity/consumers/billing/poll", params={"limit": 4})
        assert response.status_code == 200, response.text
        return response.json()

    while not (page := await poll())["done"]:
        seen += [item["id"] for item in page["data"]]
    seen += [item["id"] for item in page["data"]]
    await append(log, partner, 10)
    seen += [item["id"] for item in (await poll())["data"]]
    assert seen == [f"msg_{n}" for n in range(11)]

    again = await api.post("/v1/activity/consumers/billing/seek", json={"after": "2000-01-01T00:00:00Z"})
    assert again.status_code == 200, again.text
    assert [item["id"] for item in (await poll())["data"]] == ["msg_0", "msg_1", "msg_2", "msg_3"]
    now = await api.post("/v1/activity/consumers/billing/seek", json={"after": "now"})
    assert (await poll())["data"] == []
    back = await api.post("/v1/activity/consumers/billing/seek", json={"iterator": now.json()["iterator"]})
    assert back.status_code == 200
    assert (await api.post("/v1/activity/consumers/billing/seek", json={})).status_code == 422
    assert (await api.delete("/v1/activity/consumers/billing")).status_code == 204
    assert (await api.delete("/v1/activity/consumers/billing")).status_code == 404


async def test_named_consumers_are_capped_per_partner(api):
    for n in range(50):
        response = await api.post(f"/v1/activity/consumers/c{n}/seek", json={"after": "now"})
        assert response.status_code == 200, response.text
    refused = await api.post("/v1/activity/consumers/one-too-many/poll")
    assert refused.status_code == 409 and refused.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert (await api.post("/v1/activity/consumers/c7/poll")).status_code == 200


async def test_a_poll_answered_503_while_redis_was_frozen_moved_nothing(api, redis, redis_server, partner):
    """Redis stops answering mid-poll (SIGSTOP, longer than the API's Redis timeout), then
    comes back and runs what it had received: the 503 said "retry", so the retry must get
    the events that poll would have returned."""
    log = log_of(redis)
    for n in range(3):
        await append(log, partner, n)
    poll = "/v1/activity/consumers/frozen/poll"
    first = await api.post(poll, params={"limit": 1}, timeout=20)
    assert [item["id"] for item in first.json()["data"]] == ["msg_0"]
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        failed = await api.post(poll, params={"limit": 2}, timeout=20)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert failed.status_code == 503, failed.text
    assert await redis.ping()  # what Redis had received while frozen has run by now
    retried = await api.post(poll, params={"limit": 2}, timeout=20)
    assert retried.status_code == 200, retried.text
    assert [item["id"] for item in retried.json()["data"]] == ["msg_1", "msg_2"]
