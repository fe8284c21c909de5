"""``POST /v1/webhooks/{id}/recover``: after an outage at the receiver, the deliveries that
failed for good in a window go out again, each with its own ``webhook-id``."""

from __future__ import annotations

import datetime as dt

from standardwebhooks.webhooks import Webhook

from app.webhooks.dispatch import dispatch_event
from app.webhooks.events import WebhookEventType
from app.webhooks.store import WebhookStore
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import deliveries, package_event, register, settled_delivery


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_recover_resends_the_failed_deliveries_of_the_window(
    api, partner, receiver: Receiver, store, queue, worker_process
):
    url = receiver.hook(answers=[503] * 4, then=200)  # down for every scheduled attempt, then back
    endpoint = await register(api, url)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await dispatch_event(
        WebhookStore(store),
        queue,
        partner_id=partner,
        event_type=WebhookEventType.PACKAGE_DONE,
        event_key="pkg-r:DONE",
        data=package_event(partner, "DONE"),
    )
    [delivery] = await deliveries(api, endpoint["id"])
    failed = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert failed["status"] == "failed"

    earlier = await api.post(
        f"/v1/webhooks/{endpoint['id']}/recover",
        json={"since": iso(before - dt.timedelta(hours=2)), "until": iso(before - dt.timedelta(hours=1))},
    )
    assert earlier.status_code == 202 and earlier.json() == {"recovering": 0, "more": False}

    answer = await api.post(f"/v1/webhooks/{endpoint['id']}/recover", json={"since": iso(before)})
    assert answer.status_code == 202 and answer.json() == {"recovering": 1, "more": False}
    requests = await receiver.wait_for(url, 5)
    recovered = await settled_delivery(api, endpoint["id"], delivery["id"])
    assert recovered["status"] == "succeeded"
    assert len({r.headers["webhook-id"] for r in requests}) == 1, "the same webhook-id as before"
    assert (
        Webhook(endpoint["secret"]).verify(requests[-1].body, requests[-1].headers)["type"] == "package.done"
    )


async def test_recover_refuses_a_window_that_ends_before_it_starts(api, receiver: Receiver):
    endpoint = await register(api, receiver.hook())
    now = dt.datetime.now(dt.UTC)
    answer = await api.post(
        f"/v1/webhooks/{endpoint['id']}/recover",
        json={"since": iso(now), "until": iso(now - dt.timedelta(hours=1))},
    )
    assert answer.status_code == 422
    naive = await api.post(f"/v1/webhooks/{endpoint['id']}/recover", json={"since": "2026-11-28T10:00:00"})
    assert naive.status_code == 422
