"""A SIGTERMed worker lets the jobs it runs finish before it exits: a webhook attempt in
flight is completed and logged once, not cut off and sent again by the next worker."""

from __future__ import annotations

import asyncio
import signal

from tests.builds.support import wait_until
from tests.webhooks.receiver import running_receiver
from tests.webhooks.support import deliveries, register


async def test_sigterm_lets_an_attempt_in_flight_finish(papi, start_worker):
    async with running_receiver() as receiver:
        url = receiver.hook(delay_s=2)  # the partner answers slowly
        endpoint = await register(papi, url)
        worker = start_worker()
        accepted = (await papi.post(f"/v1/webhooks/{endpoint['id']}/test")).json()
        await receiver.wait_for(url, 1)  # the attempt is in flight now
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.process.wait, 40) == 0

        async def delivery() -> dict:
            return next(d for d in await deliveries(papi, endpoint["id"]) if d["id"] == accepted["id"])

        settled = await delivery()
        assert settled["status"] == "succeeded", settled
        assert [a["status_code"] for a in settled["attempts"]] == [200]
        start_worker()  # a successor finds nothing left to send
        await wait_until(
            lambda: _pending_is_empty(papi, endpoint["id"]), deadline_s=5, what="no pending delivery"
        )
        assert len(receiver.received(url)) == 1


async def _pending_is_empty(papi, endpoint_id: str) -> bool:
    return all(d["status"] != "pending" for d in await deliveries(papi, endpoint_id))
