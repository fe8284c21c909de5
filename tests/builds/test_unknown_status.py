"""A status the guide does not name, read by the worker's poll: the build is still followed
(it reads as INPROGRESS, published like any change) and announces nothing until it really
ends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.builds import keys as build_keys
from tests.builds.support import register_webhook
from tests.support.sim import add_fault, force_status, make_package


async def next_change(subscription: Any) -> dict[str, Any]:
    """The next change published on the channel (a skipped confirmation of the subscription
    reads as None: wait on)."""
    while True:
        message = await subscription.get_message(ignore_subscribe_messages=True, timeout=30)
        if message is not None:
            return dict(json.loads(message["data"]))


async def test_an_unknown_status_keeps_the_build_followed_and_unannounced(
    papi, sim, store, start_worker, receiver, partner
):
    endpoint = await register_webhook(
        papi, receiver.url, ["package.done", "package.failed", "package.expired"]
    )
    package = await make_package(sim, partner, "INPROGRESS", progress=10)
    response = await papi.post(f"/v1/packages/{package['id']}/watch")
    assert response.status_code == 202 and response.json()["watching"], response.text
    odd = {"id": package["id"], "title": "Odd", "status": "ARCHIVED", "progress": 55}
    await add_fault(sim, "list_packages", partner, mode="malformed", body=json.dumps([odd]))
    await add_fault(sim, "get_package", partner, mode="malformed", body=json.dumps(odd))
    # reads the status channel: what the worker published, before any stream relays it
    subscription = store.pubsub()
    await subscription.subscribe(build_keys.status_channel(partner, package["id"]))
    try:
        start_worker()
        change = await asyncio.wait_for(next_change(subscription), timeout=60)
        assert (change["status"], change["progress"]) == ("INPROGRESS", 55)

        await sim.delete("/_sim/faults")
        await force_status(sim, package["id"], "DONE")
        await receiver.wait_for(1)
    finally:
        await subscription.aclose()
    [payload] = receiver.verified(endpoint["secret"])
    assert (payload["type"], payload["data"]["status"]) == ("package.done", "DONE")
