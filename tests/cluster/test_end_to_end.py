"""The service on a Redis Cluster, end to end: an API and a worker configured as DESIGN says
(``BFF_REDIS_CLUSTER=true``, ``BFF_REDIS_URL`` a node, ``BFF_QUEUE_REDIS_URL`` arq's own
Redis) against the simulator, with a receiver that verifies every webhook with the
``standardwebhooks`` package. Create → watch → webhook, the list, the feed and the live
stream, drafts, idempotency and exports all run here as on one Redis; afterwards no node
refused a command for crossing slots."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import redis as sync_redis
from standardwebhooks.webhooks import Webhook

from tests.support.cluster import LocalCluster
from tests.support.processes import ApiServer, ManagedProcess
from tests.support.sim import force_status
from tests.support.sse import EventReader
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import eventually, register

CREATE = {
    "title": "Cluster shows",
    "event_ids": [12345, 23456],
    "targeting_mode": "lookalike",
    "num_packages": 3,
    "n_top_events": 3,
}


def verified(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


async def _create(api: httpx.AsyncClient, key: str) -> httpx.Response:
    return await api.post("/v1/packages", json=CREATE, headers={"Idempotency-Key": key})


async def test_create_watch_and_the_webhook_the_list_and_the_feed(capi, sim, hooks: Receiver, partner):
    url = hooks.hook(answers=[500])  # the first attempt fails: retried with the same webhook-id
    endpoint = await register(capi, url, ["package.done", "package.status"])
    assert (await capi.get("/v1/packages", params={"limit": 50})).status_code == 200  # kept from now on
    key = uuid.uuid4().hex
    created = await _create(capi, key)
    assert created.status_code == 202, created.text
    replayed = await _create(capi, key)  # the same key: the same answer, no second package
    assert (replayed.status_code, replayed.json()) == (202, created.json())
    package_id = created.json()["id"]

    listed = await capi.get("/v1/packages", params={"limit": 50})
    assert listed.status_code == 200 and package_id in [p["id"] for p in listed.json()["items"]]

    await force_status(sim, package_id, "INPROGRESS", 50)
    await force_status(sim, package_id, "DONE")

    def arrived() -> list[dict]:
        """One payload per webhook-id (a retried attempt carries the same id)."""
        unique = {r.headers["webhook-id"]: r for r in hooks.received(url)}
        return [verified(endpoint["secret"], r) for r in unique.values()]

    await hooks.wait_until(
        lambda: (
            {("package.done", "DONE"), ("package.status", "DONE")}
            <= {(p["type"], p["data"]["status"]) for p in arrived()}
        ),
        timeout_s=30,
    )
    payloads = arrived()
    [done_event] = [p for p in payloads if p["type"] == "package.done"]
    assert done_event["data"]["package_id"] == package_id
    seqs = sorted(p["data"]["seq"] for p in payloads if p["type"] == "package.status")
    assert seqs == list(range(1, len(seqs) + 1))  # every change once, none missing

    feed = await eventually(
        lambda: capi.get("/v1/activity", params={"after": "2000-01-01T00:00:00Z", "limit": 100}),
        lambda r: any(i["event"]["type"] == "package.done" for i in r.json()["data"]),
    )
    items = feed.json()["data"]
    done_ids = [i["id"] for i in items if i["event"]["type"] == "package.done"]
    webhook_ids = {r.headers["webhook-id"] for r in hooks.received(url) if b'"package.done"' in r.body}
    assert set(done_ids) == webhook_ids  # the feed and the webhook: one event, one id
    status = await capi.get(f"/v1/packages/{package_id}/status")
    assert status.status_code == 200 and status.json()["status"] == "DONE"
    assert hooks.received(url)[0].headers["webhook-id"] in {
        r.headers["webhook-id"] for r in hooks.received(url)[1:]
    }


async def test_a_named_consumer_polls_seeks_and_is_deleted(capi, sim):
    created = await _create(capi, uuid.uuid4().hex)
    await force_status(sim, created.json()["id"], "DONE")
    consumer = "/v1/activity/consumers/cluster-sync"
    page = await eventually(
        lambda: capi.post(f"{consumer}/poll", params={"limit": 100}),
        lambda r: (
            r.status_code == 200 and any(i["event"]["type"] == "package.done" for i in r.json()["data"])
        ),
    )
    seen = [i["id"] for i in page.json()["data"]]
    again = await capi.post(f"{consumer}/poll", params={"limit": 100})
    assert again.status_code == 200 and not set(seen) & {i["id"] for i in again.json()["data"]}  # moved on
    rewound = await capi.post(f"{consumer}/seek", json={"after": "2000-01-01T00:00:00Z"})
    assert rewound.status_code in (200, 204), rewound.text
    replay = await capi.post(f"{consumer}/poll", params={"limit": 100})
    assert [i["id"] for i in replay.json()["data"]][: len(seen)] == seen  # read again from the start
    assert (await capi.delete(consumer)).status_code == 204


async def test_the_live_activity_stream_relays_events_from_any_node(capi, sim, partner):
    link = await capi.get("/v1/activity/stream-link")
    assert link.status_code == 200, link.text
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=25)) as plain:
        async with plain.stream("GET", link.json()["stream_url"]) as stream:
            assert stream.status_code == 200
            reader = EventReader(stream)
            created = await _create(capi, uuid.uuid4().hex)
            await force_status(sim, created.json()["id"], "DONE")
            while True:
                event = await reader.next()
                assert event is not None, "the stream ended"
                if event.event == "activity" and '"package.done"' in event.data:
                    break


async def test_drafts_are_kept_changed_and_submitted_once(capi):
    draft = await capi.post(
        "/v1/drafts", json={"step": "events", "state": {"title": "Cluster draft", "event_ids": [12345]}}
    )
    assert draft.status_code == 201, draft.text
    draft_id = draft.json()["id"]
    changed = await capi.patch(
        f"/v1/drafts/{draft_id}",
        json={"step": "targeting", "state": {"targeting_mode": "lookalike"}},
        headers={"If-Match": draft.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    listed = await capi.get("/v1/drafts")
    assert [d["id"] for d in listed.json()["items"]] == [draft_id]
    ready = await capi.patch(
        f"/v1/drafts/{draft_id}", json={"step": "preview"}, headers={"If-Match": changed.headers["ETag"]}
    )
    assert ready.status_code == 200, ready.text
    first = await capi.post(f"/v1/drafts/{draft_id}/submit")
    again = await capi.post(f"/v1/drafts/{draft_id}/submit")
    assert first.status_code in (200, 202) and again.json()["id"] == first.json()["id"]  # one package
    submitted = await capi.get(f"/v1/drafts/{draft_id}")
    assert submitted.json()["package_id"] == first.json()["id"]
    deleted = await capi.delete(f"/v1/drafts/{draft_id}", headers={"If-Match": submitted.headers["ETag"]})
    assert deleted.status_code == 204, deleted.text
    assert (await capi.get(f"/v1/drafts/{draft_id}")).status_code == 404


async def test_an_export_runs_in_the_worker_and_its_end_is_a_verified_webhook(capi, sim, hooks: Receiver):
    url = hooks.hook()
    endpoint = await register(capi, url, ["export.done", "export.failed"])
    created = await _create(capi, uuid.uuid4().hex)
    package_id = created.json()["id"]
    await force_status(sim, package_id, "DONE")
    view = await eventually(
        lambda: capi.get(f"/v1/packages/{package_id}"),
        lambda r: r.status_code == 200 and r.json()["clusters"],
    )
    tc = view.json()["clusters"][0]["tc"]
    export = await capi.post(
        f"/v1/packages/{package_id}/clusters/{quote(tc, safe='')}/exports",
        json={"crm_name": "hubspot", "secret_id": "sec_1", "container_name": "Cluster Q3"},
    )
    assert export.status_code in (201, 202), export.text
    [request] = await hooks.wait_for(url, 1, timeout_s=30)
    payload = verified(endpoint["secret"], request)
    assert payload["type"] == "export.done" and payload["data"]["export_id"] == export.json()["id"]
    listed = await capi.get("/v1/exports", params={"package_id": package_id})
    assert [e["id"] for e in listed.json()["items"]] == [export.json()["id"]]


def test_no_call_crossed_slots(
    redis_cluster: LocalCluster, cluster_api: ApiServer, cluster_worker: ManagedProcess
):
    """Last of the module: no primary refused a command for keys in several slots, and the
    client refused none before sending it (redis-py checks a script's keys itself; code that
    works on without Redis would only have logged it)."""
    for node in redis_cluster.primaries():
        client = sync_redis.Redis(port=node.client_port, decode_responses=True)
        stats: dict[str, object] = client.info("errorstats")  # type: ignore[assignment]  # sync client
        client.close()
        assert "errorstat_CROSSSLOT" not in stats, (node.client_port, stats)
    for process in (cluster_api, cluster_worker):
        log = process.log()
        assert "same key slot" not in log and "CROSSSLOT" not in log, log[-4000:]
