"""Delivery end to end: dispatch_event → the real worker → a local receiver that verifies
every signature with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
import json
import time

from standardwebhooks.webhooks import Webhook

from app.webhooks import keys as webhook_keys
from app.webhooks.dispatch import dispatch_event
from app.webhooks.events import WebhookEventType
from app.webhooks.store import WebhookStore, pending_member
from app.webhooks.tasks import reschedule_due_deliveries
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import (
    deliveries,
    package_event,
    register,
    settled_delivery,
    stored_delivery,
)


def verified(secret: str, request) -> dict:
    """The payload, after `standardwebhooks` checked id, timestamp and signature."""
    return Webhook(secret).verify(request.body, request.headers)


async def test_done_and_failed_events_reach_the_receiver_signed(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook()
    endpoint = await register(api, url)
    cases: list[tuple[WebhookEventType, str]] = [
        (WebhookEventType.PACKAGE_DONE, "DONE"),
        (WebhookEventType.PACKAGE_FAILED, "FAILED"),
    ]
    for number, (event_type, status) in enumerate(cases, start=1):
        created = await dispatch_event(
            WebhookStore(store),
            queue,
            partner_id=partner,
            event_type=event_type,
            event_key=f"pkg-1:{status}",
            data=package_event(partner, status),
        )
        assert created == 1
        request = (await receiver.wait_for(url, number))[-1]
        payload = verified(endpoint["secret"], request)
        assert payload["type"] == event_type and payload["data"] == package_event(partner, status).model_dump(
            mode="json"
        )
        assert payload["timestamp"].endswith("Z")
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["user-agent"].startswith("PackageBuilder-BFF-Webhooks/")
    ids = {r.headers["webhook-id"] for r in receiver.received(url)}
    assert len(ids) == 2  # one webhook-id per event


async def test_endpoint_receives_only_its_event_types_and_only_its_partners(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    failed_only = receiver.hook()
    await register(api, failed_only, event_types=["package.failed"])
    assert (
        await dispatch_event(
            WebhookStore(store),
            queue,
            partner_id=partner,
            event_type=WebhookEventType.PACKAGE_DONE,
            event_key="pkg-2:DONE",
            data=package_event(partner, "DONE"),
        )
        == 0
    )
    assert (
        await dispatch_event(
            WebhookStore(store),
            queue,
            partner_id="someone-else",
            event_type=WebhookEventType.PACKAGE_FAILED,
            event_key="pkg-2:FAILED",
            data=package_event("someone-else", "FAILED"),
        )
        == 0
    )
    assert (
        await dispatch_event(
            WebhookStore(store),
            queue,
            partner_id=partner,
            event_type=WebhookEventType.PACKAGE_FAILED,
            event_key="pkg-2:FAILED",
            data=package_event(partner, "FAILED"),
        )
        == 1
    )
    request = (await receiver.wait_for(failed_only, 1))[0]
    assert json.loads(request.body)["type"] == "package.failed"


async def test_dispatching_one_event_twice_delivers_it_once(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook()
    endpoint = await register(api, url)
    first, second = await asyncio.gather(
        *[
            dispatch_event(
                WebhookStore(store),
                queue,
                partner_id=partner,
                event_type=WebhookEventType.PACKAGE_DONE,
                event_key="pkg-3:DONE",
                data=package_event(partner, "DONE"),
            )
            for _ in range(2)
        ]
    )
    again = await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_DONE,
        event_key="pkg-3:DONE",
        data=package_event(partner, "DONE"),
    )
    assert sorted([first, second, again]) == [0, 0, 1]
    [delivery] = await deliveries(api, endpoint["id"])
    delivery = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 1
    assert len(receiver.received(url)) == 1


async def test_a_disabled_endpoint_gets_no_deliveries(api, partner, receiver: Receiver, store, queue):
    endpoint = await register(api, receiver.hook())
    await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": False})
    assert (
        await dispatch_event(
            WebhookStore(store),
            queue,
            partner_id=partner,
            event_type=WebhookEventType.PACKAGE_DONE,
            event_key="pkg-4:DONE",
            data=package_event(partner, "DONE"),
        )
        == 0
    )


async def test_receiver_failing_twice_gets_the_third_attempt_with_the_same_webhook_id(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook(fail_times=2, fail_status=500)
    endpoint = await register(api, url)
    await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_DONE,
        event_key="pkg-5:DONE",
        data=package_event(partner, "DONE"),
    )
    requests = await receiver.wait_for(url, 3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1  # the same bytes every time
    for request in requests:
        verified(endpoint["secret"], request)
    [delivery] = await deliveries(api, endpoint["id"])
    delivery = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["message_id"] == requests[0].headers["webhook-id"]
    attempts = delivery["attempts"]
    assert [(a["number"], a["outcome"], a["status_code"]) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "succeeded", 200),
    ]
    assert all(a["latency_ms"] is not None and a["at"] for a in attempts)
    assert attempts[0]["error"] == "HTTP 500" and attempts[0]["next_attempt_in_s"] > 0
    assert attempts[0]["response_body"].startswith("answer 500")
    assert attempts[2]["error"] is None and attempts[2]["next_attempt_in_s"] is None
    shown = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    assert shown["failing_since"] is None and shown["enabled"]  # the success ended the streak


async def test_delivery_fails_after_the_last_scheduled_attempt(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook(then=503)
    endpoint = await register(api, url)
    await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_FAILED,
        event_key="pkg-6:FAILED",
        data=package_event(partner, "FAILED"),
    )
    [delivery] = await deliveries(api, endpoint["id"])
    delivery = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert delivery["status"] == "failed" and "gave up after 4 attempts" in delivery["failure_reason"]
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 503, 503]  # 1 + 3 retries
    assert len(receiver.received(url)) == 4
    shown = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    assert shown["enabled"] and shown["failing_since"] is not None


async def test_410_gone_disables_the_endpoint_at_once(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook(then=410)
    endpoint = await register(api, url)
    await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_DONE,
        event_key="pkg-7:DONE",
        data=package_event(partner, "DONE"),
    )
    [delivery] = await deliveries(api, endpoint["id"])
    delivery = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert delivery["status"] == "failed" and "410" in delivery["failure_reason"]
    assert [a["status_code"] for a in delivery["attempts"]] == [410]
    shown = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    assert not shown["enabled"] and "410" in shown["disabled_reason"]
    assert (
        await dispatch_event(
            WebhookStore(store),
            queue,
            partner_id=partner,
            event_type=WebhookEventType.PACKAGE_DONE,
            event_key="pkg-7b:DONE",
            data=package_event(partner, "DONE"),
        )
        == 0
    )
    enabled = (await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": True})).json()
    assert enabled["enabled"] and enabled["disabled_reason"] is None


async def test_endpoint_failing_for_longer_than_the_limit_is_disabled(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook(then=500)
    endpoint = await register(api, url)
    six_days_ago = time.time() - 6 * 24 * 3600  # the streak began before the default 5-day limit
    await WebhookStore(store).update_endpoint(partner, endpoint["id"], {"failing_since": repr(six_days_ago)})
    await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_DONE,
        event_key="pkg-8:DONE",
        data=package_event(partner, "DONE"),
    )
    [delivery] = await deliveries(api, endpoint["id"])
    delivery = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert delivery["status"] == "failed" and delivery["failure_reason"] == "endpoint is disabled"
    assert len(delivery["attempts"]) == 1  # no retry is sent to a disabled endpoint
    shown = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    assert not shown["enabled"] and "5 days" in shown["disabled_reason"]
    enabled = (await api.patch(f"/v1/webhooks/{endpoint['id']}", json={"enabled": True})).json()
    assert enabled["enabled"] and enabled["failing_since"] is None


async def test_redirects_are_failures_and_never_followed(api, partner, receiver: Receiver, worker_process):
    target = receiver.hook()
    url = receiver.hook(answers=[307], headers={"location": target})
    endpoint = await register(api, url)
    accepted = (await api.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
    await receiver.wait_for(url, 2)
    delivery = await settled_delivery(api, endpoint["id"], accepted["id"])
    first = delivery["attempts"][0]
    assert first["status_code"] == 307 and "not followed" in first["error"]
    assert delivery["status"] == "succeeded" and receiver.received(target) == []


async def test_send_test_webhook_delivers_a_webhook_test_event(
    api, partner, receiver: Receiver, worker_process
):
    url = receiver.hook()
    endpoint = await register(api, url, event_types=["package.expired"])
    response = await api.post(f"/v1/webhooks/{endpoint['id']}/test")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["id"].startswith("dlv_") and accepted["event_type"] == "webhook.test"
    payload = verified(endpoint["secret"], (await receiver.wait_for(url, 1))[0])
    assert payload["type"] == "webhook.test" and payload["data"]["endpoint_id"] == endpoint["id"]
    delivery = await settled_delivery(api, endpoint["id"], accepted["id"])
    assert delivery["status"] == "succeeded" and delivery["payload"] == payload


async def test_after_rotation_both_secrets_sign(api, partner, receiver: Receiver, worker_process):
    url = receiver.hook()
    endpoint = await register(api, url)
    rotated = (await api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret")).json()
    await api.post(f"/v1/webhooks/{endpoint['id']}/test")
    request = (await receiver.wait_for(url, 1))[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verified(endpoint["secret"], request) == verified(rotated["secret"], request)


async def test_redeliver_sends_again_with_the_same_webhook_id(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook()
    endpoint = await register(api, url)
    await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_DONE,
        event_key="pkg-9:DONE",
        data=package_event(partner, "DONE"),
    )
    first = (await receiver.wait_for(url, 1))[0]
    [delivery] = await deliveries(api, endpoint["id"])
    await settled_delivery(api, endpoint["id"], delivery["id"])
    response = await api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202, response.text
    assert response.json()["message_id"] == first.headers["webhook-id"]
    again = (await receiver.wait_for(url, 2))[1]
    assert again.headers["webhook-id"] == first.headers["webhook-id"] and again.body == first.body
    verified(endpoint["secret"], again)
    done = await settled_delivery(api, endpoint["id"], delivery["id"], status="succeeded")
    assert [(a["round"], a["number"]) for a in done["attempts"]] == [(1, 1), (2, 1)]


async def test_redeliver_of_an_unknown_delivery_is_404(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    response = await api.post(f"/v1/webhooks/{endpoint['id']}/deliveries/dlv_{'0' * 32}/redeliver")
    assert response.status_code == 404


async def test_deliveries_are_listed_newest_first_page_by_page(
    api, partner, receiver: Receiver, worker_process
):
    endpoint = await register(api, receiver.hook())
    sent = [(await api.post(f"/v1/webhooks/{endpoint['id']}/test")).json()["id"] for _ in range(3)]
    page = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 2})).json()
    assert [d["id"] for d in page["items"]] == sent[::-1][:2] and page["next_cursor"]
    rest = (
        await api.get(
            f"/v1/webhooks/{endpoint['id']}/deliveries", params={"limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [d["id"] for d in rest["items"]] == sent[:1] and rest["next_cursor"] is None
    bad = await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"cursor": "nonsense!"})
    assert bad.status_code == 422


async def test_sweep_enqueues_a_pending_delivery_whose_job_was_lost(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook()
    endpoint = await register(api, url)
    delivery_id, msg_id = await stored_delivery(store, partner, endpoint["id"], "pkg-10:DONE", due_in_s=0)
    assert await reschedule_due_deliveries(WebhookStore(store), queue, now=time.time()) >= 1
    request = (await receiver.wait_for(url, 1))[0]
    assert request.headers["webhook-id"] == msg_id
    delivery = await settled_delivery(api, endpoint["id"], delivery_id)
    assert delivery["status"] == "succeeded"
    # checks storage: the delivery left the set the sweep reads
    pending = await store.zscore(webhook_keys.WEBHOOK_PENDING, pending_member(partner, delivery_id))
    assert pending is None
