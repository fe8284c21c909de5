"""Exports as first-class jobs: a list to find them again, and a signed webhook event when one
ends, verified with the public ``standardwebhooks`` library."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from standardwebhooks import Webhook

from tests.exports.test_exports import BODY, exports_path, wait_for_export
from tests.support.sim import add_fault, make_package
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.support import register


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def test_the_202_says_when_to_look_again(api, sim, partner):
    package = await make_package(sim, partner, "DONE", clusters=["x"])
    response = await api.post(exports_path(package["id"], "x"), json=BODY)
    assert response.status_code == 202 and int(response.headers["Retry-After"]) > 0


async def test_exports_are_listed_newest_first_with_a_cursor_and_a_package_filter(api, sim, partner):
    first = await make_package(sim, partner, "DONE", clusters=["a"])
    second = await make_package(sim, partner, "DONE", clusters=["b"])
    made = []
    for package, tc in ((first, "a"), (second, "b"), (first, "a"), (second, "b"), (first, "a")):
        made.append((await api.post(exports_path(package["id"], tc), json=BODY)).json()["id"])
    seen, cursor = [], None
    while True:
        page = (
            await api.get("/v1/exports", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        ).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    only_first = (await api.get("/v1/exports", params={"package_id": first["id"]})).json()
    assert [e["id"] for e in only_first["items"]] == [made[4], made[2], made[0]]
    assert all(e["package_id"] == first["id"] for e in only_first["items"])
    other = (await api.get("/v1/exports", params={"package_id": "nothing-here"})).json()
    assert other == {"items": [], "next_cursor": None}


async def test_the_end_of_an_export_is_a_signed_webhook_event(api, sim, partner, receiver, worker_process):
    url = receiver.hook()
    endpoint = await register(api, url, event_types=["export.done", "export.failed"])
    done_package = await make_package(sim, partner, "DONE", clusters=["ok"])
    done = (await api.post(exports_path(done_package["id"], "ok"), json=BODY)).json()
    await wait_for_export(api, done["id"], until={"DONE", "FAILED"})
    failing = await make_package(sim, partner, "DONE", clusters=["no"])
    await add_fault(sim, "create_export", partner, status=400, count=1)
    failed = (await api.post(exports_path(failing["id"], "no"), json=BODY)).json()
    await wait_for_export(api, failed["id"], until={"DONE", "FAILED"})
    requests = await receiver.wait_for(url, 2)
    events = {
        e["data"]["export_id"]: e
        for e in (Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in requests)
    }
    assert events[done["id"]]["type"] == "export.done"
    assert events[done["id"]]["data"]["status"] == "DONE" and events[done["id"]]["data"]["tc"] == "ok"
    assert events[failed["id"]]["type"] == "export.failed" and events[failed["id"]]["data"]["reason"]
    assert events[done["id"]]["data"]["export_url"].endswith(f"/v1/exports/{done['id']}")
